import FuzzSupport
import ModVaultCore
import ModVaultStore
import Glibc

/// The repository's own structures, as a hostile repository or remote would hand them over: the first
/// byte picks the decoder (tree, content list, stream blob, index file, archive blob), the rest is its input. Each
/// decode must throw or succeed, never trap, and whatever it accepts must encode to something that
/// decodes to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMetadata(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let all = FuzzChecks.bytes(data, size)
    guard let selector = all.first else { return 0 }
    let input = Array(all.dropFirst())
    switch selector % 5 {
    case 0:
        if let tree = try? Tree.decode(input) { precondition((try? Tree.decode(tree.encoded())) == tree, "tree does not round-trip") }
    case 1:
        if let list = try? ContentList.decode(input) {
            precondition((try? ContentList.decode(list.encoded())) == list, "content list does not round-trip")
        }
    case 2:
        if let stream = try? StreamBlob.decode(input) {
            precondition((try? StreamBlob.decode(stream.encoded())) == stream, "stream blob does not round-trip")
        }
    case 4:
        if let archive = try? ArchiveBlob.decode(input) {
            precondition((try? ArchiveBlob.decode(archive.encoded())) == archive, "archive blob does not round-trip")
        }
    default:
        if let index = try? IndexFile.decode(input, path: "fuzz") {
            precondition((try? IndexFile.decode(index.encoded(), path: "fuzz")) == index, "index file does not round-trip")
        }
    }
    return 0
}

@main
struct FuzzMetadataMain {
    static func main() {
        exit(runFuzzer(fuzzMetadata))
    }
}
