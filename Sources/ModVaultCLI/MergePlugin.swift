import Foundation
import ArgumentParser
import ModVaultCore
import ModVaultFormats

struct MergePluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-plugin",
        abstract: "Merge two edits of one plugin (.esp/.esm/.esl) record by record against their common base.",
        discussion: """
            Records are matched by FormID, normalised through each file's own master
            list. A record changed on one side is taken from it, the same change on both
            is taken once, additions are kept and deletions applied. GMST, GLOB and KYWD
            records changed in different fields on the two sides merge field by field.
            Conflicts: one record changed differently on both sides (both_changed),
            changed against deleted (changed_deleted), two new records with one object
            ID (same_new_id), placements changed in one cell on both sides
            (cell_both_changed), a master of the base removed or reordered, or a value
            that may or may not name a master whose index moves (masters_changed), a
            localized plugin changed on both sides (localized_both_changed), a light
            plugin's new form out of range (esl_range).

            The output keeps the bytes of every record neither side touched; groups, the
            HEDR record count and next object ID, the master list and ONAM are rebuilt,
            and the result is parsed again before it is written (through a temporary
            file). Masters added on either side or both give their union (base's, then
            ours', then theirs'), and every side's forms are renumbered into it: record
            headers, group labels, and references found in record data.

            Exit codes: 0 merged (MERGED written), 5 conflicts remain (nothing written
            unless --partial, which writes ours for each conflicting record), 1 an input
            is not a plugin.
            """)

    @Argument(help: "The common base version.") var base: String
    @Argument(help: "This side's version.") var ours: String
    @Argument(help: "The other side's version.") var theirs: String
    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Where to write the merged plugin.", valueName: "file")) var output: String
    @Flag(help: "With conflicts, still write the result, keeping ours for each conflicting record.") var partial = false
    @Flag(help: "Print a JSON object as the last line.") var json = false

    func run() async throws {
        func read(_ path: String) throws -> [UInt8] {
            do { return try FileSystem.readFile(path) } catch let e as SystemCallError {
                throw CLIError("cannot read \(path): \(e.reason)", kind: e.code == ENOENT ? .notFound : .io)
            }
        }
        let outcome = try PluginMerge.merge(base: try read(base), ours: try read(ours), theirs: try read(theirs),
                                            path: FileSystem.lastComponent(ours), partial: partial, labels: (base, ours, theirs))
        if let bytes = outcome.output {
            do { try FileSystem.writeAtomically(FileSystem.absolute(output), bytes: bytes, mode: 0o644) } catch let e as SystemCallError {
                throw CLIError("cannot write \(output): \(e.reason)", kind: .io)
            }
        }
        let c = outcome.counts
        if json {
            let conflicts: [[String: Any]] = outcome.conflicts.map {
                ["form_id": $0.formID, "type": $0.type, "editor_id": $0.editorID as Any? ?? NSNull(), "kind": $0.kind, "ours": $0.ours, "theirs": $0.theirs]
            }
            print(JSON.line([
                "merged": outcome.merged, "written": outcome.output != nil, "taken_ours": c.takenOurs, "taken_theirs": c.takenTheirs,
                "same_both": c.sameBoth, "added": c.added, "removed": c.removed, "field_merged": c.fieldMerged, "conflicts": conflicts,
            ]))
        } else {
            print("\(c.takenOurs) taken from ours, \(c.takenTheirs) from theirs, \(c.sameBoth) the same on both, \(c.added) added, "
                  + "\(c.removed) removed, \(c.fieldMerged) merged field by field")
            for x in outcome.conflicts {
                print("conflict \(x.kind): \(x.type) \(x.formID)" + (x.editorID.map { " \"\($0)\"" } ?? "") + " (ours \(x.ours), theirs \(x.theirs))")
            }
            if outcome.merged { print("merged into \(output)") }
            else if outcome.output != nil { print("\(outcome.conflicts.count) conflicts; partial result (ours kept for them) written to \(output)") }
            else { print("\(outcome.conflicts.count) conflicts; nothing written (see --partial)") }
        }
        if !outcome.merged { throw ExitWith(status: .conflicts) }
    }
}
