public import ModVaultCore

/// The repository layout as every remote stores it: object names, their paths, and the way back.
public enum RemoteLayout {
    /// The folder (with trailing slash) that holds objects of `kind`; empty for `.config`, whose files sit at the root.
    public static func folder(of kind: FileKind) -> String {
        kind == .config ? "" : kind.rawValue + "/"
    }

    /// True for names a remote can store: non-empty, at most 200 bytes of `[A-Za-z0-9._-]`, not starting
    /// with `.` (temporary and probe files do), pack names of at least two characters (their folder),
    /// and root files that are not named like a folder of the layout.
    public static func isValid(_ name: ObjectName) -> Bool {
        guard isValidName(name.name) else { return false }
        switch name.kind {
        case .pack: return name.name.utf8.count >= 2
        case .config: return name.name == "config" || (FileKind(rawValue: name.name) == nil && name.name != "cache")
        default: return true
        }
    }

    /// True for a bare name made of `[A-Za-z0-9._-]`, 1 to 200 bytes, not starting with `.`.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 200, bytes.first != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
    }

    /// Throws `.invalidName` naming the remote unless `name` can be stored.
    public static func validate(_ name: ObjectName, location: String) throws {
        guard isValid(name) else {
            throw RemoteError(.invalidName, location: location, object: name.relativePath,
                              detail: "names are 1-200 characters of A-Z a-z 0-9 . _ - and do not start with '.'")
        }
    }

    /// Throws `.invalidName` unless `after` (a listing cursor) is a valid bare name.
    public static func validateCursor(_ after: String?, location: String) throws {
        if let after, !isValidName(after) {
            throw RemoteError(.invalidName, location: location, detail: "listing cursor '\(after)'")
        }
    }

    /// The object a repository-relative path names (`data/3f/3f2a…`, `keys/…`, `config`), or nil for
    /// anything else: temporary files, files in the wrong pack folder, unknown folders.
    public static func objectName(forRelativePath path: String) -> ObjectName? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1:
            let name = ObjectName(kind: .config, name: parts[0])
            return isValid(name) ? name : nil
        case 2:
            guard let kind = FileKind(rawValue: parts[0]), kind != .config, kind != .pack else { return nil }
            let name = ObjectName(kind: kind, name: parts[1])
            return isValid(name) ? name : nil
        case 3:
            guard parts[0] == FileKind.pack.rawValue, parts[2].hasPrefix(parts[1]), parts[1].utf8.count == 2 else { return nil }
            let name = ObjectName(kind: .pack, name: parts[2])
            return isValid(name) ? name : nil
        default:
            return nil
        }
    }

    /// Byte-wise ordering of names, the order every `list` returns.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
