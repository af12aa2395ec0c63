import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultStore

/// Hostile repositories, each built with the library the way an attacker with write access to a
/// shared repository or remote could build it, run through the release commands a user would run:
/// `ls`, `check`, `restore`, `mirror`, `clone` and `pull`. Each must end with the expected exit code
/// and a message, and nothing may be written outside the target: no file beside it, and no link in
/// it that resolves outside it.
@Suite("Hostile repository corpus")
struct HostileCorpusTests {
    /// What a command is expected to do with one hostile repository.
    struct Expected: Sendable {
        var ls: Int32, check: Int32, restore: Int32, mirror: Int32, clone: Int32, pull: Int32
        /// Words the restore (or, when restore succeeds, the clone) message must contain.
        var says: String
    }

    enum Case: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case linkChain, dotDotName, slashName, escapeSequenceName, hugeSizes, subtreeBomb, temporaryName
        case badKeySlots, plantedIndex, hugeIndexClaim, shortContent

        var testDescription: String { rawValue }

        var expected: Expected {
            switch self {
            // A chain of links whose last step climbs out of the target through `self -> .`.
            case .linkChain: return Expected(ls: 0, check: 0, restore: 1, mirror: 1, clone: 0, pull: 0, says: "passes through the link")
            // Names that would climb or nest: refused by every walk of the tree.
            case .dotDotName: return Expected(ls: 1, check: 4, restore: 1, mirror: 1, clone: 0, pull: 0, says: "'..'")
            case .slashName: return Expected(ls: 1, check: 4, restore: 1, mirror: 1, clone: 0, pull: 0, says: "a/b")
            // A legal name carrying a terminal escape: restored as it is, printed escaped.
            case .escapeSequenceName: return Expected(ls: 0, check: 0, restore: 0, mirror: 0, clone: 0, pull: 0, says: "")
            // Files claiming 2^62 bytes each.
            case .hugeSizes: return Expected(ls: 0, check: 4, restore: 4, mirror: 4, clone: 0, pull: 0, says: "the snapshot records")
            // Twenty levels naming the level below twice: 2^20 paths from 21 trees.
            case .subtreeBomb: return Expected(ls: 1, check: 0, restore: 1, mirror: 1, clone: 0, pull: 0, says: "appears more than")
            // A file beside another whose name is that file's temporary.
            case .temporaryName: return Expected(ls: 0, check: 0, restore: 1, mirror: 0, clone: 0, pull: 0, says: "temporary")
            // Unusable key slots (unknown KDF, scrypt asking for 128 GiB) beside the good one: skipped with a warning.
            case .badKeySlots: return Expected(ls: 0, check: 0, restore: 0, mirror: 0, clone: 0, pull: 0, says: "")
            // An index file named by its SHA-256 but not sealed with the key: local commands report damage,
            // clone and pull refuse to store it.
            case .plantedIndex: return Expected(ls: 4, check: 4, restore: 4, mirror: 4, clone: 3, pull: 3, says: "index")
            // A sealed index entry claiming a 4 GiB blob.
            case .hugeIndexClaim: return Expected(ls: 4, check: 4, restore: 4, mirror: 4, clone: 4, pull: 4, says: "index")
            // A file whose chunks hold fewer bytes than its recorded size.
            case .shortContent: return Expected(ls: 0, check: 4, restore: 4, mirror: 4, clone: 0, pull: 0, says: "the snapshot records")
            }
        }
    }

    static let password = Array("correct horse".utf8)

    /// Builds the hostile repository for `kind` at `path` and returns it.
    static func build(_ kind: Case, at path: String) throws {
        var options = RepositoryOptions()
        options.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
        let repository = try Repository.initialize(at: path, password: password, options: options)
        let writer = BlobWriter(repository: repository)
        let sealer = writer.makeSealer()
        func blob(_ bytes: [UInt8], _ type: BlobType) throws -> ObjectID {
            let id = repository.contentMAC.id(bytes)
            try bytes.withUnsafeBytes { _ = try writer.store(BlobHandle(id: id, type: type), plaintext: $0, sealer: sealer) }
            return id
        }
        let payload = Array("payload".utf8)
        let data = try blob(payload, .data)
        func file(_ name: String, size: Int64? = nil) -> TreeNode {
            TreeNode(name: name, type: .regular, mode: 0o644, mtimeNanos: 0, size: size ?? Int64(payload.count),
                     content: .inline([BlobHandle(id: data, type: .data)]))
        }
        func link(_ name: String, _ target: String) -> TreeNode {
            TreeNode(name: name, type: .symlink, mode: 0o777, mtimeNanos: 0, size: 0, linkTarget: target)
        }
        func folder(_ name: String, _ subtree: ObjectID) -> TreeNode {
            TreeNode(name: name, type: .directory, mode: 0o755, mtimeNanos: 0, size: 0, subtree: subtree)
        }
        // Trees are encoded as they are, without the checks a real snapshot applies.
        func tree(_ nodes: [TreeNode]) throws -> ObjectID { try blob(Tree(nodes: nodes).encoded(), .tree) }

        var root: [TreeNode] = [file("ok.esp")]
        switch kind {
        case .linkChain:
            root += [link("self", "."), link("esc", "self/self/self/self/../../../..")]
        case .dotDotName:
            root.append(file(".."))
        case .slashName:
            root.append(file("a/b"))
        case .escapeSequenceName:
            root.append(file("\u{1B}]0;owned\u{07}\u{1B}[2Jx.esp"))
        case .hugeSizes:
            root = ["a", "b", "c"].map { file($0, size: Int64.max >> 1) }
        case .subtreeBomb:
            var below = try tree([file("leaf.txt")])
            for _ in 0..<20 { below = try tree([folder("a", below), folder("b", below)]) }
            root.append(folder("bomb", below))
        case .temporaryName:
            root.append(file(".modvault-restore-" + Hex.encode(Array(SHA256Digest.hash(Array("ok.esp".utf8)).bytes.prefix(8)))))
        case .shortContent:
            root.append(file("short.esp", size: 1000))
        case .badKeySlots, .plantedIndex, .hugeIndexClaim:
            break
        }
        let rootID = try tree(root.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) })
        try writer.flush()
        _ = try repository.saveSnapshot(Snapshot(time: Date(timeIntervalSince1970: 1_800_000_000), host: "h", username: "u", device: "d",
                                                 paths: ["/hostile"], tags: [], parents: [], tree: rootID, summary: nil))
        switch kind {
        case .badKeySlots:
            let keys = try FileSystem.list(path + "/keys")
            let good = try String(contentsOfFile: path + "/keys/" + keys[0], encoding: .utf8)
            let unknown = good.replacingOccurrences(of: "\"scrypt\",", with: "\"argon9\",")
            let greedy = good.replacingOccurrences(of: "\"n\" : 1024", with: "\"n\" : 16777216")
                .replacingOccurrences(of: "\"r\" : 8", with: "\"r\" : 64").replacingOccurrences(of: "\"p\" : 1", with: "\"p\" : 16")
            #expect(unknown != good && greedy != good)
            // Named to sort before the good slot, so they are tried first.
            try unknown.write(toFile: path + "/keys/00" + String(repeating: "0", count: 62), atomically: true, encoding: .utf8)
            try greedy.write(toFile: path + "/keys/01" + String(repeating: "0", count: 62), atomically: true, encoding: .utf8)
        case .plantedIndex:
            let garbage = [UInt8]((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let name = SHA256Digest.hash(garbage).hex
            #expect(FileManager.default.createFile(atPath: path + "/index/" + name, contents: Data(garbage)))
        case .hugeIndexClaim:
            let lying = IndexFile(packs: [IndexedPack(id: ObjectID(bytes: [UInt8](repeating: 0x5A, count: 32))!, entries: [
                PackEntry(handle: BlobHandle(id: ObjectID(bytes: [UInt8](repeating: 0x6B, count: 32))!, type: .data),
                          codec: .none, length: 4 << 30, rawLength: 4 << 30, offset: 0),
            ])], supersedes: [])
            _ = try repository.saveFile(.index, plaintext: lying.encoded())
        default:
            break
        }
    }

    /// Fails if anything but `target` appeared in `box`, or a link in `target` resolves outside it.
    static func expectContained(_ box: String, target: String, _ what: String) throws {
        let extra = try FileSystem.list(box).filter { $0 != FileSystem.lastComponent(target) && $0 != "local" }
        #expect(extra.isEmpty, "\(what) wrote \(extra) beside the target")
        guard FileSystem.isDirectory(target) else { return }
        let real = URL(fileURLWithPath: target).resolvingSymlinksInPath().path
        let walker = FileManager.default.enumerator(atPath: target)
        while let rel = walker?.nextObject() as? String {
            let path = target + "/" + rel
            guard (try? FileSystem.status(path))?.type == .symlink else { continue }
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            #expect(resolved == real || resolved.hasPrefix(real + "/") || !FileManager.default.fileExists(atPath: resolved),
                    "\(what) left \(rel) resolving to \(resolved), outside \(real)")
        }
    }

    @Test(arguments: Case.allCases)
    func everyCommandSurvives(_ kind: Case) throws {
        let h = try CLIHarness()
        try Self.build(kind, at: h.repo)
        let expected = kind.expected
        let box = h.root + "/box"
        try FileSystem.makeDirectories(box)

        let ls = try h.modvault(["ls", "latest"])
        #expect(ls.status == expected.ls, "ls: \(ls.stderr)")
        #expect(!ls.stdout.contains("\u{1B}"), "ls printed a raw escape sequence")
        let check = try h.modvault(["check"])
        #expect(check.status == expected.check, "check: \(check.stdout)\(check.stderr)")

        let restore = try h.modvault(["restore", "latest", "--target", box + "/restored"])
        #expect(restore.status == expected.restore, "restore: \(restore.stderr)")
        if expected.restore != 0 { #expect(restore.stderr.contains(expected.says), "restore said: \(restore.stderr)") }
        try Self.expectContained(box, target: box + "/restored", "restore")
        try? FileManager.default.removeItem(atPath: box + "/restored")

        // The same repository as a remote: mirror straight from it, then clone it and pull again.
        let mirror = try h.modvault(["mirror", h.repo, "latest", "--target", box + "/mirrored"])
        #expect(mirror.status == expected.mirror, "mirror: \(mirror.stderr)")
        try Self.expectContained(box, target: box + "/mirrored", "mirror")
        try? FileManager.default.removeItem(atPath: box + "/mirrored")

        let local = box + "/local"
        var cloning = h.extraEnvironment
        cloning["MODVAULT_REPO"] = local
        h.extraEnvironment = cloning
        defer { h.extraEnvironment = [:] }
        let clone = try h.modvault(["clone", h.repo])
        #expect(clone.status == expected.clone, "clone: \(clone.stderr)")
        try Self.expectContained(box, target: box + "/none", "clone")
        if clone.status == 0 || clone.status == 3 {
            let pull = try h.modvault(["pull", h.repo])
            #expect(pull.status == expected.pull, "pull: \(pull.stderr)")
            if expected.clone == 3 { #expect(clone.stderr.contains(expected.says), "clone said: \(clone.stderr)") }
            // Whatever was refused stays out: the clone opens and checks clean of planted files.
            let localCheck = try h.modvault(["check"])
            #expect(localCheck.status == (expected.check == 4 && expected.clone == 3 ? 0 : expected.check),
                    "check of the clone: \(localCheck.stdout)\(localCheck.stderr)")
        }
    }
}
