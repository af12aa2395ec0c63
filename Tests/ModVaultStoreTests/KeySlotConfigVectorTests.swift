import Foundation
import Testing
import ModVaultCore
import ModVaultStore
import ModVaultCrypto

/// A key slot and config written by this format's first version-2 build (`modvault init` with the
/// test KDF cost N=1024 and the password below), kept byte for byte: every later build must open it.
/// It pins the key slot JSON, scrypt, the sealed master key, the sealed config and its JSON.
@Suite("Key slot and config vector")
struct KeySlotConfigVectorTests {
    static let password = Array("vector-password".utf8)
    static let slotName = "251e152de652a59a0dbab2426d0ed734522a7843580aac584e3d11bb7581aecf"
    static let slot = #"""
{
  "created" : "2026-12-04T23:05:17Z",
  "data" : "grtC7UbFADD4jpAJnP0utADhYHgys3LnwV8yYBGz7S9o75Q3U65AIf+fW6dpaVbcseqU8TN3Km\/U4kOYW0koxNv6OORc8qOJU+UMmH7pxc6HtvVi8E8e0iw5wz\/EzRAih6tAJUhS7EwzFfsS\/Vsm1O4rDdy1Wa2gH4jBYjUFmSu9t21TKS6RwDhPE5FQeTs=",
  "host" : "vm",
  "kdf" : "scrypt",
  "salt" : "Le3pYTGE9SzTi2czte9xfZulHiuwVPrqtFBPRQOZRuA=",
  "scrypt" : {
    "n" : 1024,
    "p" : 1,
    "r" : 8
  },
  "username" : "root",
  "version" : 1
}
"""#
    static let config = "pIaK31VzYxzPH0m5D7CRG7LZ9AammhYFMcWJRqa/rhH4DUuvKQIDfnatjhEf/MOHRC4tmW9oCngu7r2AbKVqX/dMxreM8/rVzfMPwtJGpNgZoR+1u4H2KvCjXmqB+MgJDSoEnahPLmdIENMejtycxLiXIk/t3sJ/R/ZEF6l9PEBYw0bZlaoDKj7NlcNDpcF+gL8rpK/di83bOIz73BrVwI6eBuInhLhYjbPjZF9UKegxcvzp9Zv6lUqIPjpFovurQNkLzRwGUyNcgO2vt3aVI3egR65TBkJXGLhjccP79QfK0aaoiFjD7nFyIheyJ6qJ/W5jzGVCCbtNl6nIu+2kk3YWgpqWkJKUdSPCTXq1+Fq16VhauL8DkjyB+qLxD3IHZIx5kuL0byQF00k5/EYYfCrQ"

    static func repository() throws -> (TemporaryFolder, String) {
        let folder = try TemporaryFolder()
        let path = folder.path + "/repo"
        for sub in ["keys", "data", "index", "snapshots", "locks"] { try FileSystem.makeDirectories(path + "/" + sub) }
        try FileSystem.writeAtomically(path + "/keys/" + slotName, bytes: Array(slot.utf8), mode: 0o400)
        try FileSystem.writeAtomically(path + "/config", bytes: Array(Data(base64Encoded: config)!), mode: 0o444)
        return (folder, path)
    }

    @Test func theVectorOpensAndItsConfigReads() throws {
        let (folder, path) = try Self.repository()
        defer { folder.remove() }
        let slot = try KeySlot.decode(Array(Self.slot.utf8))
        #expect(slot.kdf == "scrypt" && slot.scrypt == ScryptParameters(n: 1024, r: 8, p: 1) && slot.version == 1)
        #expect(try slot.open(password: Array("not it".utf8)) == nil)
        let repository = try Repository.open(at: path, password: Self.password)
        #expect(repository.keyID == Self.slotName)
        #expect(repository.config.id.hex == "3e4471eb4e549e015c67f4296a98ea6afab2b12059a3a2138c1ac4b72c21e16f")
        #expect(repository.config.version == 2)
        #expect(repository.config.chunker.description == "128K/512K/2048K")
        #expect(repository.config.compression == "zstd")
        #expect(throws: StoreError.self) { try Repository.open(at: path, password: Array("not it".utf8)) }
    }
}
