import Dispatch

/// Writes deterministic MO2-style Fallout 4 mod folders (base and next version) at a chosen scale.
public enum FixtureGenerator {
    /// Writes the base mod folder into `directory` (created if missing). Returns a summary.
    public static func writeBase(_ options: FixtureOptions, to directory: String) throws -> FixtureSummary {
        try validate(options)
        let plan = FixturePlanner.plan(seed: options.seed, scale: options.scaleBytes)
        let results = try write(plan.allFiles(), to: directory, jobs: options.jobs)
        return summarize(plan, results, options: options, version: "base", changes: nil)
    }

    /// Writes the "next version" of the same folder into `directory`.
    ///
    /// Into an empty directory this writes the whole next tree. Into a directory holding the base tree of the
    /// same options it turns it into the next tree: files that only the base has are deleted (only those
    /// exact paths), all others are rewritten.
    public static func writeNext(_ options: FixtureOptions, to directory: String) throws -> FixtureSummary {
        try validate(options)
        let base = FixturePlanner.plan(seed: options.seed, scale: options.scaleBytes)
        let (next, pending) = NextVersion.apply(base, seed: options.seed, scale: options.scaleBytes)
        let nextFiles = next.allFiles()
        try removeStale(base.allFiles(), keeping: nextFiles, in: directory)
        let results = try write(nextFiles, to: directory, jobs: options.jobs)
        let changes = describe(pending, next: next, results: results)
        return summarize(next, results, options: options, version: "next", changes: changes)
    }

    /// Deletes the files of `old` that `new` does not have (only those exact paths, if they exist in `directory`),
    /// and the folders this empties, so writing `new` over a tree of `old` leaves exactly `new`.
    static func removeStale(_ old: [PlannedFile], keeping new: [PlannedFile], in directory: String) throws {
        let keep = Set(new.map(\.path))
        for stale in old.map(\.path) where !keep.contains(stale) {
            let full = directory + "/" + stale
            guard FileSystem.isRegularFile(full) else { continue }
            try FileSystem.removeFile(full)
            var parent = stale
            while let slash = parent.lastIndex(of: "/") {
                parent = String(parent[..<slash])
                FileSystem.removeEmptyDirectory(directory + "/" + parent)
            }
        }
    }

    static func validate(_ options: FixtureOptions) throws {
        guard options.scaleBytes >= FixtureOptions.minimumScale else {
            throw FixtureError.invalidArgument("scale \(options.scaleBytes) is below the minimum of \(FixtureOptions.minimumScale) bytes")
        }
        guard options.scaleBytes <= FixtureOptions.maximumScale else {
            throw FixtureError.invalidArgument("scale \(options.scaleBytes) is above the maximum of \(FixtureOptions.maximumScale) bytes")
        }
        guard options.jobs >= 1 else { throw FixtureError.invalidArgument("jobs must be at least 1") }
    }

    struct FileResult: Sendable {
        var path: String
        var bytes: UInt64
        var kind: String
        var archive: BA2WriteReport?
        var pluginEdit: PluginEditReport?
        var pluginRecordCount: Int?
    }

    /// Writes every file; with several jobs, files go to workers by size (largest first) so output never
    /// depends on timing, only the order of writing does.
    static func write(_ files: [PlannedFile], to directory: String, jobs: Int) throws -> [FileResult] {
        let root = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        try FileSystem.makeDirectories(root)
        var directories = Set<String>()
        for file in files {
            if let slash = file.path.lastIndex(of: "/") { directories.insert(String(file.path[..<slash])) }
        }
        for d in directories.sorted() { try FileSystem.makeDirectories(root + "/" + d) }

        let order = files.indices.sorted { workEstimate(files[$0].spec) > workEstimate(files[$1].spec) }
        let workers = max(1, min(jobs, files.count))
        var assignment = [[Int]](repeating: [], count: workers)
        var load = [Int64](repeating: 0, count: workers)
        for i in order {
            let w = load.indices.min { load[$0] < load[$1] }!
            assignment[w].append(i)
            load[w] += workEstimate(files[i].spec)
        }
        let slots = ResultSlots(count: files.count, workers: workers)
        let work = assignment
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in work[w] {
                if slots.failed { return }
                do {
                    slots.results[i] = try writeFile(files[i], root: root)
                } catch {
                    slots.errors[w] = error
                    slots.failed = true
                    return
                }
            }
        }
        if let error = slots.errors.compactMap({ $0 }).first { throw error }
        return slots.results.map { $0! }
    }

    /// Per-index result storage shared by the workers. Each index and error slot is written by exactly one
    /// worker and read only after `concurrentPerform` returns, which is why unchecked sendability is sound.
    final class ResultSlots: @unchecked Sendable {
        var results: [FileResult?]
        var errors: [(any Error)?]
        var failed = false  // a benign race: workers only stop early, the error itself is in `errors`

        init(count: Int, workers: Int) {
            results = [FileResult?](repeating: nil, count: count)
            errors = [(any Error)?](repeating: nil, count: workers)
        }
    }

    /// Rough cost of producing a file (bytes to synthesise and compress).
    static func workEstimate(_ spec: FileSpec) -> Int64 {
        switch spec {
        case .dds(let t, _): return Int64(t.info.surfaceBytes)
        case .archive(let a):
            return a.members.reduce(0) { total, m in
                switch m.body {
                case .texture(let t): total + Int64(t.info.surfaceBytes) * 4
                case .content(let c): total + Int64(c.size) * 4
                }
            }
        case .plugin(let p): return Estimator.plugin(p) * 4
        case .content(let c): return Int64(c.size)
        case .text(let b): return Int64(b.count)
        }
    }

    static func writeFile(_ file: PlannedFile, root: String) throws -> FileResult {
        let full = root + "/" + file.path
        var result = FileResult(path: file.path, bytes: 0, kind: "text")
        switch file.spec {
        case let .dds(texture, style):
            result.kind = "dds"
            result.bytes = try DDSWriter.write(texture.info, style: style, to: full) { texture.surface($0) }
        case let .archive(archive):
            result.kind = "ba2"
            let report = try BA2Writer.write(archive.members.map(member), type: archive.type, version: archive.version, to: full)
            result.bytes = report.fileSize
            result.archive = report
        case let .plugin(spec):
            result.kind = "plugin"
            let (header, groups, edit) = PluginSynth.build(spec)
            result.bytes = try PluginWriter.write(header: header, groups: groups, to: full)
            result.pluginEdit = edit
            result.pluginRecordCount = PluginWriter.recordCount(groups)
        case let .content(content):
            result.kind = content.category
            result.bytes = try FileSystem.writeFile(full, content.bytes())
        case let .text(bytes):
            result.bytes = try FileSystem.writeFile(full, bytes)
        }
        return result
    }

    static func member(_ spec: MemberSpec) -> BA2Member {
        switch spec.body {
        case .texture(let t):
            return BA2Member(path: spec.path, storage: spec.storage, payload: .texture(t.info) { t.surface($0) })
        case .content(let c):
            return BA2Member(path: spec.path, storage: spec.storage, payload: .file { c.bytes() })
        }
    }

    static func describe(_ pending: NextChanges, next: FixturePlan, results: [FileResult]) -> FixtureChanges {
        let byPath = Dictionary(uniqueKeysWithValues: results.map { ($0.path, $0) })
        var ideal = IdealNewBytes()
        var stored: Int64 = 0
        let textureChunks = byPath[pending.textureArchive]!.archive!.members[pending.replacedMember]
        ideal.replacedTexture = textureChunks.reduce(0) { $0 + Int64($1.unpackedSize) }
        stored += textureChunks.reduce(0) { $0 + Int64($1.storedSize) }
        let plugin = byPath[pending.plugin]!
        ideal.editedRecords = Int64(plugin.pluginEdit!.editedRecordBytes)
        ideal.insertedRecords = Int64(plugin.pluginEdit!.insertedRecordBytes)
        stored += ideal.editedRecords + ideal.insertedRecords
        let memberChunk = byPath[pending.repackArchive]!.archive!.members[pending.newMemberIndex][0]
        ideal.newMember = Int64(memberChunk.unpackedSize)
        stored += Int64(memberChunk.storedSize)
        let addedRoot = "mods/\(pending.addedMod)/"
        ideal.addedMod = results.filter { $0.path.hasPrefix(addedRoot) }.reduce(0) { $0 + Int64($1.bytes) }
        stored += ideal.addedMod
        ideal.storedTotal = stored

        let (_, baseGroups, _) = PluginSynth.build(pending.pluginBefore)
        func memberPath(_ archive: String, _ index: Int) -> String {
            for mod in next.mods {
                if let file = mod.files.first(where: { $0.path == archive }), case .archive(let spec) = file.spec {
                    return spec.members[index].path
                }
            }
            return ""
        }
        return FixtureChanges(
            replacedTextureArchive: pending.textureArchive,
            replacedTextureMember: memberPath(pending.textureArchive, pending.replacedMember),
            editedPlugin: pending.plugin,
            editedFormIDs: plugin.pluginEdit!.editedFormIDs,
            insertedFormIDs: plugin.pluginEdit!.insertedFormIDs,
            pluginRecordCountBefore: PluginWriter.recordCount(baseGroups),
            pluginRecordCountAfter: plugin.pluginRecordCount!,
            repackedArchive: pending.repackArchive,
            newMember: memberPath(pending.repackArchive, pending.newMemberIndex),
            newMemberIndex: pending.newMemberIndex,
            addedMod: pending.addedMod, removedMod: pending.removedMod, renamed: pending.renames, idealNew: ideal)
    }

    static func summarize(
        _ plan: FixturePlan, _ results: [FileResult], options: FixtureOptions, version: String, changes: FixtureChanges?
    ) -> FixtureSummary {
        let paths = Set(results.map(\.path))
        let shared = plan.claims.filter { claim in
            [claim.path, claim.archive, claim.otherPath].compactMap { $0 }.allSatisfy(paths.contains)
        }
        return FixtureSummary(
            version: version, seed: options.seed, scaleBytes: options.scaleBytes, files: results.count,
            bytes: results.reduce(0) { $0 + Int64($1.bytes) }, mods: plan.mods.count, byKind: kindTotals(results), shared: shared,
            changes: changes, idealNewBytes: changes?.idealNew.total ?? 0)
    }

    /// Files and bytes per kind, for the summary.
    static func kindTotals(_ results: [FileResult]) -> [String: KindTotal] {
        var byKind: [String: KindTotal] = [:]
        for r in results {
            byKind[r.kind, default: KindTotal()].files += 1
            byKind[r.kind, default: KindTotal()].bytes += Int64(r.bytes)
        }
        return byKind
    }
}
