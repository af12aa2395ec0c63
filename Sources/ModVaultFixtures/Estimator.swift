// Size estimates for planning. Compression ratios are measured once per process on small samples of the
// synthesizers' own output, so the planner's byte budget follows any change to the content generators.

enum Estimator {
    static let textureCombos: [(TextureFormat, TextureStyle)] = [
        (.bc1, .diffuse), (.bc3, .diffuse), (.bc7, .diffuse), (.bc5, .normal), (.bc7, .normal),
        (.bc5, .specular), (.bc1, .specular), (.bc1, .glow), (.bgra8, .interface), (.bc3, .interface),
    ]

    /// zlib level-6 ratio (packed / raw) per texture format and style, from one 512² sample with all mips.
    static let textureRatios: [String: Double] = {
        var ratios: [String: Double] = [:]
        for (format, style) in textureCombos {
            let info = TextureInfo(width: 512, height: 512, format: format)
            var raw = 0, packed = 0
            for range in BA2Writer.chunkMipRanges(for: info) {
                var chunk: [UInt8] = []
                for mip in range { chunk += TextureSynthesizer.surface(info, mip: mip, seed: 0xCA11, style: style) }
                raw += chunk.count
                packed += FixtureZlib.deflate(chunk).count
            }
            ratios["\(format)-\(style)"] = Double(packed) / Double(raw)
        }
        return ratios
    }()

    /// zlib ratio per content category, from representative samples.
    static let contentRatios: [String: Double] = {
        let samples: [ContentSpec] = [
            ContentSpec(kind: .nif(name: "Sample", textures: ["Textures\\Sample\\Sample_d.dds"]), seed: 1, size: 96_000),
            ContentSpec(kind: .pex(script: "SampleScript", author: "sample"), seed: 2, size: 12_000),
            ContentSpec(kind: .psc(script: "SampleScript"), seed: 3, size: 8_000),
            ContentSpec(kind: .bgsm(textures: ["Sample\\Sample_d.dds", "Sample\\Sample_n.dds", "Sample\\Sample_s.dds"]), seed: 4, size: 400),
            ContentSpec(kind: .dll(name: "Sample"), seed: 5, size: 64_000),
        ]
        var ratios: [String: Double] = ["sound": 1.0]
        for spec in samples {
            let bytes = spec.bytes()
            ratios[spec.category] = Double(FixtureZlib.deflate(bytes).count) / Double(bytes.count)
        }
        return ratios
    }()

    /// Average written bytes of one record per signature (compression included), from 24 samples each.
    static let recordSizes: [String: Double] = {
        var sizes: [String: Double] = [:]
        let context = PluginSynth.RecordContext(prefix: "SMP_", highByte: 0x0100_0000, ownKeywords: [0x0100_0800], ownMisc: [0x0100_0801])
        var used = Set<String>()
        for sig in PluginSynth.groupOrder {
            var total = 0
            for i in 0..<24 {
                var rng = FixtureRNG(seed: Seed.derive(0x5A3E, "\(sig)\(i)"))
                let record = PluginSynth.makeRecord(sig, formID: 0x0100_0800 + UInt32(i), rng: &rng, context: context, used: &used, oversize: false)
                total += PluginWriter.recordBytes(record).count
            }
            sizes[sig] = Double(total) / 24
        }
        return sizes
    }()

    static let oversizeRecordBytes = 76_000

    static func textureRatio(_ t: TextureSpec) -> Double { textureRatios["\(t.info.format)-\(t.style)"] ?? 1 }

    /// Bytes a texture adds to a DX10 archive: its compressed chunks, entry and name.
    static func archivedTexture(_ t: TextureSpec, pathLength: Int) -> Int64 {
        let chunks = BA2Writer.chunkMipRanges(for: t.info).count
        return Int64(Double(t.info.surfaceBytes) * textureRatio(t)) + Int64(24 + 24 * chunks + 2 + pathLength)
    }

    static func looseTexture(_ t: TextureSpec, style: DDSHeaderStyle) -> Int64 {
        Int64(DDSWriter.headerSize(t.info, style: style) + t.info.surfaceBytes)
    }

    /// Bytes a content file adds to a GNRL archive with `storage`.
    static func archivedContent(_ c: ContentSpec, storage: BA2Storage, pathLength: Int) -> Int64 {
        let ratio: Double
        switch storage {
        case .raw: ratio = 1
        case .zlib, .zlibIfSmaller, .recompressed: ratio = min(1, contentRatios[c.category] ?? 0.5)
        }
        return Int64(Double(c.size) * ratio) + Int64(36 + 2 + pathLength)
    }

    static func plugin(_ spec: PluginSpec) -> Int64 {
        var total = 300.0 + Double(spec.masters.count * 30)
        for c in spec.counts where c.count > 0 { total += 24 + Double(c.count) * (recordSizes[c.signature] ?? 200) }
        total += Double(spec.oversizeRecords * oversizeRecordBytes)
        total += Double(spec.overrides) * 300
        return Int64(total)
    }
}
