import Foundation
public import ModVaultCore

/// How a conflict is settled.
public enum ConflictStrategy: String, Sendable, Codable, CaseIterable {
    /// The local version wins.
    case ours
    /// The remote version wins.
    case theirs
    /// The version from the later snapshot wins; equal times go to the larger device ID, so every device picks the same.
    case newest
    /// The newest version stays in place; the other is kept beside it under a name nothing loads.
    case keepBoth = "keep-both"
    /// The local version stays, the conflict is reported, and `resolve` settles it.
    case manual
}

/// The kinds of conflict a three-way merge reports.
public enum ConflictKind: String, Sendable, Codable {
    /// Both sides changed the file differently.
    case bothModified = "modify/modify"
    /// Both sides added the path with different content.
    case bothAdded = "add/add"
    /// This side modified the file, the other deleted it.
    case modifiedDeleted = "modify/delete"
    /// This side deleted the file, the other modified it.
    case deletedModified = "delete/modify"
    /// One side has a file where the other has a folder.
    case fileFolder = "file/folder"
}

/// Which strategy settles a conflict at each path: the run's `--strategy`, then the folder's rules file
/// (`.modvault/sync-rules`), then the defaults (manual for plugins and load-order files, keep-both for
/// everything else).
///
/// The rules file holds one `PATTERN STRATEGY` per line; `#` starts a comment. A pattern without `/`
/// matches a file name anywhere (`*.esp`); one with `/` matches the whole path from the folder's top
/// (`Textures/**`). `*` matches within one name, `**` across folders, `?` one character; matching
/// ignores case, as Windows and the game do. The first matching line wins.
public struct SyncRules: Sendable, Equatable {
    /// One line of the rules file.
    public struct Rule: Sendable, Equatable {
        /// The glob.
        public var pattern: String
        /// The strategy for paths it matches.
        public var strategy: ConflictStrategy
    }

    /// The strategy given for the whole run, if any.
    public var override: ConflictStrategy?
    /// The rules, in file order.
    public var rules: [Rule] = []

    /// Rules from a run strategy and rule lines.
    public init(override: ConflictStrategy? = nil, rules: [Rule] = []) {
        self.override = override
        self.rules = rules
    }

    /// Plugins: the game loads every one of these in `Data/`, so no copy may keep the extension.
    public static let pluginExtensions: Set<String> = ["esp", "esm", "esl"]
    /// Load-order files, merged line by line.
    public static let loadOrderNames: Set<String> = ["plugins.txt", "loadorder.txt", "modlist.txt"]

    /// Parses a rules file; `path` names it in errors.
    public static func parse(_ text: String, path: String) throws -> [Rule] {
        var rules: [Rule] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            if words.isEmpty { continue }
            guard words.count == 2, let strategy = ConflictStrategy(rawValue: words[1]) else {
                throw SyncFolderError.badRules(path: path, line: number + 1,
                                               detail: "expected 'PATTERN STRATEGY' with STRATEGY one of \(ConflictStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            rules.append(Rule(pattern: words[0], strategy: strategy))
        }
        return rules
    }

    /// The strategy for `path`, and whether the user chose it (a run strategy or a rule) rather than a default.
    public func strategy(for path: String) -> (ConflictStrategy, explicit: Bool) {
        if let override { return (override, true) }
        for rule in rules where Self.matches(rule.pattern, path) { return (rule.strategy, true) }
        return (Self.defaultStrategy(for: path), false)
    }

    /// Manual for plugins and load-order files, keep-both for the rest.
    public static func defaultStrategy(for path: String) -> ConflictStrategy {
        let name = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        if loadOrderNames.contains(name) { return .manual }
        if let dot = name.lastIndex(of: "."), pluginExtensions.contains(String(name[name.index(after: dot)...])) { return .manual }
        return .keepBoth
    }

    /// Whether the glob `pattern` matches `path` (see the type's description).
    public static func matches(_ pattern: String, _ path: String) -> Bool {
        let p = Array(pattern.lowercased().utf8)
        let lowered = path.lowercased()
        if !p.contains(UInt8(ascii: "/")) {
            let name = lowered.split(separator: "/").last.map(String.init) ?? lowered
            return glob(p[...], Array(name.utf8)[...])
        }
        let anchored = p.first == UInt8(ascii: "/") ? Array(p.dropFirst()) : p
        return glob(anchored[...], Array(lowered.utf8)[...])
    }

    private static func glob(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        guard let c = p.first else { return s.isEmpty }
        let slash = UInt8(ascii: "/"), star = UInt8(ascii: "*")
        if c == star {
            var rest = p.dropFirst()
            let crossesFolders = rest.first == star
            if crossesFolders {
                rest = rest.dropFirst()
                // "**/" also matches no folder at all.
                if rest.first == slash, glob(rest.dropFirst(), s) { return true }
            }
            var i = s.startIndex
            while true {
                if glob(rest, s[i...]) { return true }
                guard i < s.endIndex, crossesFolders || s[i] != slash else { return false }
                i += 1
            }
        }
        guard let first = s.first else { return false }
        if c == UInt8(ascii: "?") ? first != slash : c == first { return glob(p.dropFirst(), s.dropFirst()) }
        return false
    }

    /// True for plugin file names (`.esp`, `.esm`, `.esl`, any case).
    public static func isPlugin(_ path: String) -> Bool {
        let lower = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        guard let dot = lower.lastIndex(of: ".") else { return false }
        return pluginExtensions.contains(String(lower[lower.index(after: dot)...]))
    }

    /// True for names the game or Mod Organizer 2 would load (plugins, archives), which a conflict copy must not keep.
    public static func isLoadable(_ name: String) -> Bool {
        let lower = name.lowercased()
        guard let dot = lower.lastIndex(of: ".") else { return false }
        let ext = String(lower[lower.index(after: dot)...])
        return pluginExtensions.contains(ext) || ext == "ba2"
    }

    /// Where keep-both puts the other version of `path`: the same folder, with `.modvault-conflict-<device>-<snapshot>`
    /// appended, so the extension no longer says plugin or archive and nothing loads it.
    public static func conflictCopyPath(_ path: String, device: String, snapshot: ObjectID) -> String {
        path + ".modvault-conflict-" + String(device.prefix(8)) + "-" + snapshot.short
    }

    /// Whether a path is a keep-both copy.
    public static func isConflictCopy(_ path: String) -> Bool {
        (path.split(separator: "/").last ?? "").contains(".modvault-conflict-")
    }
}
