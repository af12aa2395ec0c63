import FuzzSupport
import ModVaultFormats
import Glibc

nonisolated(unsafe) let engine = RecipeEngine()

/// Two properties: any decodable recipe re-encodes to the same bytes; and any input treated as a
/// zlib stream (declared size in the first 3 bytes) either has a recipe that rebuilds it exactly or none.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecipe(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzChecks.bytes(data, size)
    if let recipe = try? Recipe(decoding: bytes) {
        precondition(recipe.encoded() == bytes, "recipe encoding is not canonical")
        _ = try? engine.rebuild(recipe, decompressed: [UInt8](repeating: 0, count: Int(min(recipe.rawSize, 1 << 16))))
    }
    if bytes.count >= 3 {
        let rawSize = UInt64(bytes[0]) | UInt64(bytes[1]) << 8 | UInt64(bytes[2]) << 16
        let stream = Array(bytes[3...])
        if case .reproducible(let recipe, let content) = engine.find(compressed: stream, rawSize: rawSize) {
            precondition(UInt64(content.count) == rawSize)
            precondition((try? engine.rebuild(recipe, decompressed: content)) == stream, "recipe does not rebuild its stream")
            precondition((try? Recipe(decoding: recipe.encoded())) == recipe)
        }
    }
    return 0
}

@main
struct FuzzRecipeMain {
    static func main() {
        exit(runFuzzer(fuzzRecipe))
    }
}
