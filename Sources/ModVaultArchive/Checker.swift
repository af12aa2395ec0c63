import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto
import ModVaultFormats

/// What `check` found.
public struct CheckReport: Sendable, Codable {
    /// Problems that make data unrecoverable or the repository inconsistent.
    public var errors: [String] = []
    /// Harmless findings, such as packs left by an interrupted run.
    public var notes: [String] = []
    /// Snapshot short ID and path of every file or tree affected by damage.
    public var affected: [String] = []
    /// Snapshots checked.
    public var snapshots = 0
    /// Packs checked.
    public var packs = 0
    /// Blobs read and verified (with read-data).
    public var blobsVerified = 0
    /// Stream blobs rebuilt and verified (with `rebuildStreams`).
    public var streamsRebuilt = 0

    /// True when nothing is damaged.
    public var isHealthy: Bool { errors.isEmpty }
}

/// Verifies a repository's structure and, optionally, every byte of its data.
public struct Checker: Sendable {
    /// The repository checked.
    public let repository: Repository

    /// Creates a checker.
    public init(repository: Repository) { self.repository = repository }

    /// Checks structure: snapshots and trees load, every referenced blob is indexed, every index entry
    /// lies inside an existing pack. With `readData`, decrypts and verifies every blob of every pack.
    ///
    /// With `rebuildStreams`, also rebuilds every stream blob's original bytes (decompressed streams are
    /// recompressed, as restore would) and checks them against the stream's ID.
    public func check(readData: Bool, rebuildStreams: Bool = false, lockWait: Double = 0) throws -> CheckReport {
        // Shared: a prune running meanwhile would make missing packs look like damage.
        let lock = try RepositoryLock.acquire(repository, exclusive: false, operation: "check", wait: lockWait)
        defer { lock.release() }
        var report = CheckReport()
        var bad = Set<BlobHandle>()

        // Index files, read directly rather than through the SQLite cache.
        var indexed: [BlobHandle: BlobLocation] = [:]
        var packsIndexed: [ObjectID: [PackEntry]] = [:]
        for id in try repository.list(.index) {
            do {
                let file = try IndexFile.decode(try repository.loadFile(.index, id: id),
                                                path: repository.filePath(ObjectName(kind: .index, id: id)))
                for pack in file.packs {
                    packsIndexed[pack.id, default: []] += pack.entries
                    for e in pack.entries {
                        indexed[e.handle] = BlobLocation(pack: pack.id, offset: e.offset, length: e.length, rawLength: e.rawLength, codec: e.codec)
                    }
                }
            } catch {
                report.errors.append("\(error)")
            }
        }

        // Packs on disk and their sizes.
        var packSizes: [ObjectID: Int64] = [:]
        for id in try repository.list(.pack) {
            let path = repository.filePath(ObjectName(kind: .pack, id: id))
            if let st = try? FileSystem.status(path) { packSizes[id] = st.size }
        }
        report.packs = packSizes.count
        for (pack, entries) in packsIndexed {
            let path = repository.filePath(ObjectName(kind: .pack, id: pack))
            guard let size = packSizes[pack] else {
                report.errors.append("missing object \(path) (listed in the index)")
                for e in entries { bad.insert(e.handle) }
                continue
            }
            for e in entries where e.offset < 0 || e.offset + e.length > size {
                report.errors.append("index entry \(e.handle) points past the end of \(path)")
                bad.insert(e.handle)
            }
        }
        for pack in packSizes.keys where packsIndexed[pack] == nil {
            report.notes.append("pack \(pack.short) is not indexed (left by an interrupted run; 'modvault repair index' adopts it)")
        }

        if readData {
            for (pack, size) in packSizes.sorted(by: { $0.key < $1.key }) {
                verify(pack: pack, size: size, report: &report, bad: &bad)
            }
        }

        if rebuildStreams {
            let rebuilder = StreamRebuilder(repository: repository)
            for handle in indexed.keys.filter({ $0.type == .stream }).sorted(by: { $0.id < $1.id }) where !bad.contains(handle) {
                do {
                    try rebuilder.withRebuilt(handle.id, verifyAll: true) { _ in }
                    report.streamsRebuilt += 1
                } catch {
                    report.errors.append("\(error)")
                    bad.insert(handle)
                }
            }
            // A repacked archive is rebuilt whole, into a scratch file that vanishes when closed.
            for handle in indexed.keys.filter({ $0.type == .archive }).sorted(by: { $0.id < $1.id }) where !bad.contains(handle) {
                do {
                    let scratch = try OpenFile.anonymous(in: FileManager.default.temporaryDirectory.path)
                    _ = try ArchiveFiles.write(handle, repository: repository, into: scratch, readBack: scratch, label: "archive \(handle.id.short)")
                    report.streamsRebuilt += 1
                } catch {
                    report.errors.append("\(error)")
                    bad.insert(handle)
                }
            }
        }

        // Snapshots and trees.
        let snapshotIDs = try repository.list(.snapshot)
        var snapshots: [SnapshotRecord] = []
        for id in snapshotIDs {
            do { snapshots.append(SnapshotRecord(id: id, snapshot: try repository.loadSnapshot(id))) } catch {
                report.errors.append("\(error)")
            }
        }
        report.snapshots = snapshots.count
        var goodTrees = Set<ObjectID>()
        var badTrees = Set<ObjectID>()
        var streamProblems = ContentProblems()
        for record in snapshots {
            var uses = SubtreeUses()
            do {
                try walkForDamage(record, tree: record.snapshot.tree, path: "", indexed: indexed, bad: bad, uses: &uses,
                                  goodTrees: &goodTrees, badTrees: &badTrees, streamProblems: &streamProblems, report: &report)
            } catch {
                report.errors.append("snapshot \(record.id.short): \(error)")
            }
        }
        // A damaged subtree used under several names is reported once.
        var seen = Set<String>()
        report.errors = report.errors.filter { seen.insert($0).inserted }
        return report
    }

    private func verify(pack: ObjectID, size: Int64, report: inout CheckReport, bad: inout Set<BlobHandle>) {
        let path = repository.filePath(ObjectName(kind: .pack, id: pack))
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(path) } catch {
            report.errors.append("\(error)")
            return
        }
        if SHA256Digest.hash(bytes) != pack {
            report.errors.append("corrupt object \(path): contents do not match the file name")
        }
        let entries: [PackEntry]
        do {
            entries = try PackFormat.readHeader(packSize: Int64(bytes.count), cipher: repository.cipher, path: path) { offset, count in
                Array(bytes[Int(offset)..<(Int(offset) + count)])
            }
        } catch {
            report.errors.append("\(error)")
            // Without a header, fall back to the index's view of this pack.
            if let all = try? repository.index.allBlobs() {
                for (handle, location) in all where location.pack == pack { bad.insert(handle) }
            }
            return
        }
        let plain = ScratchBuffer()
        let scratch = BlobReadScratch()
        for e in entries {
            let location = BlobLocation(pack: pack, offset: e.offset, length: e.length, rawLength: e.rawLength, codec: e.codec)
            do {
                try bytes.withUnsafeBytes { raw in
                    try repository.openBlob(e.handle, sealed: UnsafeRawBufferPointer(rebasing: raw[Int(e.offset)..<Int(e.offset + e.length)]),
                                            location: location, packPath: path, into: plain, scratch: scratch)
                }
                report.blobsVerified += 1
            } catch {
                report.errors.append("\(error)")
                bad.insert(e.handle)
            }
        }
    }

    /// Walks one snapshot's trees; a subtree already found healthy is not entered again (its paths
    /// need no report), and one entered too often (`SubtreeUses`) ends the walk with an error.
    private func walkForDamage(_ record: SnapshotRecord, tree: ObjectID, path: String, indexed: [BlobHandle: BlobLocation],
                               bad: Set<BlobHandle>, uses: inout SubtreeUses, goodTrees: inout Set<ObjectID>, badTrees: inout Set<ObjectID>,
                               streamProblems: inout ContentProblems, report: inout CheckReport) throws {
        if goodTrees.contains(tree) { return }
        let label = "snapshot \(record.id.short): \(path.isEmpty ? "/" : path)"
        if badTrees.contains(tree) {
            report.affected.append(label + " (tree unreadable)")
            return
        }
        let handle = BlobHandle(id: tree, type: .tree)
        let loaded: Tree
        do {
            guard indexed[handle] != nil else { throw StoreError.blobNotIndexed(handle) }
            guard !bad.contains(handle) else { throw StoreError.corruptObject(path: "tree \(tree.short)", reason: "damaged") }
            loaded = try repository.loadTree(tree)
        } catch {
            badTrees.insert(tree)
            report.errors.append("\(error)")
            report.affected.append(label + " (tree unreadable)")
            return
        }
        var treeHealthy = true
        for node in loaded.nodes {
            let child = path.isEmpty ? node.name : path + "/" + node.name
            // A name or link restore would refuse is damage too: the snapshot cannot be restored.
            do {
                try EntryName.validate(node.name, at: child)
                if node.type == .symlink { try EntryName.validateLink(node.linkTarget ?? "", at: child) }
            } catch {
                treeHealthy = false
                report.errors.append("snapshot \(record.id.short): \(error)")
                report.affected.append("snapshot \(record.id.short): \(child)")
                continue
            }
            switch node.type {
            case .regular:
                var problem: String? = nil
                var handles: [BlobHandle] = []
                do {
                    handles = try ContentListWalk.expand(node.content, size: node.size) { id in
                        let h = BlobHandle(id: id, type: .list)
                        if indexed[h] == nil { throw ContentListError(reason: "blob \(h) is not in the index") }
                        if bad.contains(h) { throw ContentListError(reason: "blob \(h) is damaged") }
                        return try repository.loadList(id)
                    }
                } catch {
                    problem = "\(child): \(error)"
                }
                for h in handles where problem == nil {
                    problem = streamProblems.problem(with: h, indexed: indexed, bad: bad, repository: repository)
                }
                if problem == nil {
                    // The chunks must add up to the recorded size, or restore would fail on this file.
                    let held = handles.reduce(Int64(0)) { total, h in
                        let (sum, overflow) = total.addingReportingOverflow(streamProblems.bytes(of: h, indexed: indexed))
                        return overflow ? .max : sum
                    }
                    if held != node.size { problem = "\(child): its content holds \(held) bytes, the snapshot records \(node.size)" }
                }
                if let problem {
                    treeHealthy = false
                    report.errors.append(problem)
                    report.affected.append("snapshot \(record.id.short): \(child)")
                }
            case .directory:
                if let sub = node.subtree {
                    try uses.count(sub, at: child)
                    try walkForDamage(record, tree: sub, path: child, indexed: indexed, bad: bad, uses: &uses,
                                      goodTrees: &goodTrees, badTrees: &badTrees, streamProblems: &streamProblems, report: &report)
                    if !goodTrees.contains(sub) { treeHealthy = false }
                }
            default:
                break
            }
        }
        if treeHealthy { goodTrees.insert(tree) }
    }
}

/// Why a file's content blob is unusable, remembered per stream so shared streams are read once.
private struct ContentProblems {
    private var streams: [ObjectID: String?] = [:]
    private var lengths: [ObjectID: Int64] = [:]

    /// The bytes `handle` stands for in its file: a data blob's plaintext length, or the length a stream
    /// or archive blob rebuilds to once `problem(with:)` has read it (0 when unknown).
    func bytes(of handle: BlobHandle, indexed: [BlobHandle: BlobLocation]) -> Int64 {
        handle.type == .data ? indexed[handle]?.rawLength ?? 0 : lengths[handle.id] ?? 0
    }

    /// The problem with `handle` (a data blob, or a stream blob and the data blobs it lists), if any.
    mutating func problem(with handle: BlobHandle, indexed: [BlobHandle: BlobLocation], bad: Set<BlobHandle>,
                          repository: Repository) -> String? {
        if indexed[handle] == nil { return "blob \(handle) is not in the index" }
        if bad.contains(handle) { return "blob \(handle) is damaged" }
        if handle.type == .archive { return archiveProblem(handle, indexed: indexed, bad: bad, repository: repository) }
        guard handle.type == .stream else { return nil }
        if let known = streams[handle.id] { return known }
        var found: String? = nil
        do {
            let stream = try repository.loadStream(handle.id)
            lengths[handle.id] = Int64(clamping: stream.originalLength)
            switch stream.form {
            case .recipe(let bytes):
                let recipe = try Recipe(decoding: bytes)
                if recipe.rawSize != stream.contentLength || recipe.compressedSize != stream.originalLength {
                    found = "stream \(handle.id.short): recipe sizes disagree with the stream blob"
                }
            case .inflateThenRecipe(let bytes):
                if try Recipe(decoding: bytes).compressedSize != stream.originalLength {
                    found = "stream \(handle.id.short): recipe size disagrees with the stream blob"
                }
            case .verbatim, .inflate:
                break
            }
            if found == nil, let missing = stream.content.first(where: { indexed[BlobHandle(id: $0, type: .data)] == nil }) {
                found = "blob data/\(missing.short) of stream \(handle.id.short) is not in the index"
            } else if found == nil, let damaged = stream.content.first(where: { bad.contains(BlobHandle(id: $0, type: .data)) }) {
                found = "blob data/\(damaged.short) of stream \(handle.id.short) is damaged"
            }
        } catch {
            found = "\(error)"
        }
        streams[handle.id] = .some(found)
        return found
    }

    /// The problem with an archive blob's base: its lists, its blobs, and their length against the size it records.
    private mutating func archiveProblem(_ handle: BlobHandle, indexed: [BlobHandle: BlobLocation], bad: Set<BlobHandle>,
                                         repository: Repository) -> String? {
        if let known = streams[handle.id] { return known }
        var found: String? = nil
        do {
            let archive = try repository.loadArchive(handle.id)
            lengths[handle.id] = Int64(clamping: archive.size)
            let base = try ContentListWalk.expand(archive.base, size: Int64(clamping: archive.baseSize)) { id in
                let h = BlobHandle(id: id, type: .list)
                if indexed[h] == nil { throw ContentListError(reason: "blob \(h) is not in the index") }
                if bad.contains(h) { throw ContentListError(reason: "blob \(h) is damaged") }
                return try repository.loadList(id)
            }
            var held: Int64 = 0
            for h in base where found == nil {
                found = problem(with: h, indexed: indexed, bad: bad, repository: repository)
                let length = bytes(of: h, indexed: indexed)
                held = held.addingReportingOverflow(length).overflow ? .max : held + length
            }
            if found == nil, held != Int64(clamping: archive.baseSize) {
                found = "archive \(handle.id.short): its base holds \(held) bytes, the blob records \(archive.baseSize)"
            }
            if let problem = found, !problem.hasPrefix("archive ") { found = "archive \(handle.id.short): base \(problem)" }
        } catch {
            found = "\(error)"
        }
        streams[handle.id] = .some(found)
        return found
    }
}
