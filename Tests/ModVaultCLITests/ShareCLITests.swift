import Foundation
import Testing
import ModVaultCore

/// `share` and `join` on a disk remote, which cannot enforce roles: the code still works once,
/// expires, carries no credentials, and the output says plainly what the remote cannot do.
@Suite("Sharing on a disk remote (CLI)")
struct ShareCLITests {
    @Test func shareAndJoinOnDisk() throws {
        let d = try CLIDevices()
        try d.run("a", ["init"])
        try d.write("a", "Data/Foo.esp", Data("plugin".utf8))
        let bound = try d.run("a", ["sync", d.folder("a"), "--remote", d.remote])
        #expect(bound.status == 0, "\(bound.stderr)")

        let shared = try d.run("a", ["share", d.remote, "--role", "writer", "--expires", "2h", "--json"])
        #expect(shared.status == 0, "\(shared.stderr)")
        #expect(shared.stderr.contains("cannot enforce roles"))
        let json = try shared.lastJSON()
        let code = try #require(json["code"] as? String)
        #expect(json["role"] as? String == "writer" && json["invite_id"] is String && json["expires"] is String)
        #expect(code.hasPrefix("mvinv1:"))
        let password = try String(contentsOfFile: d.h.passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!code.contains(password))

        // The teammate joins with their own repository and folder, and gets the files.
        let joined = try d.run("b", ["join", code, "--folder", d.folder("b")])
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(d.read("b", "Data/Foo.esp") == "plugin")
        // Their edits flow back.
        try d.write("b", "Data/Bar.esp", Data("from b".utf8))
        #expect(try d.run("b", ["sync", d.folder("b")]).status == 0)
        #expect(try d.run("a", ["sync", d.folder("a")]).status == 0)
        #expect(d.read("a", "Data/Bar.esp") == "from b")

        // One use only; an expired code fails, naming the cause.
        let again = try d.run("c", ["join", code])
        #expect(again.status != 0 && again.stderr.contains("already used or revoked"))
        let short = try d.run("a", ["share", d.remote, "--expires", "1s", "-q"])
        Thread.sleep(forTimeInterval: 1.2)
        let late = try d.run("c", ["join", short.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(late.status != 0 && late.stderr.contains("expired"))
        // A code that is not one.
        let garbage = try d.run("c", ["join", "mvinv1:%%%"])
        #expect(garbage.status != 0 && garbage.stderr.contains("not a valid invite code"))
        // Members and invites need a server that keeps them.
        let members = try d.run("a", ["members", d.remote])
        #expect(members.status != 0 && members.stderr.contains("needs a PocketBase project"))
    }
}
