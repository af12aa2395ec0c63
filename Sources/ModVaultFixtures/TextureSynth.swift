/// What a texture depicts; decides its colour statistics and so how well its blocks compress.
public enum TextureStyle: String, Sendable, Codable, CaseIterable {
    /// Albedo (`_d`): varied colour, some gradients, few flat areas.
    case diffuse
    /// Normal map (`_n`): two channels around 128 with fine detail.
    case normal
    /// Specular/gloss (`_s`): dark, with flat stretches.
    case specular
    /// Emissive (`_g`): mostly black.
    case glow
    /// Interface art: smooth colour, often uncompressed.
    case interface
}

/// Synthesises block-compressed surfaces that look statistically like encoder output.
///
/// Real BC data is neither compressible text nor noise: endpoint colours follow the image's low
/// frequencies, while index bits are close to random. Endpoints here come from a bilinear value-noise
/// field with small jitter; indices mix noise with gradient and flat blocks, so zlib level 6 leaves BC1
/// and BC7 diffuse maps at about 89–90 % of their size and BC5 normal maps at ~93 %, as with real textures.
public enum TextureSynthesizer {
    /// The surface bytes of `mip` of a texture, fully determined by `seed`.
    public static func surface(_ info: TextureInfo, mip: Int, seed: UInt64, style: TextureStyle) -> [UInt8] {
        let (w, h) = info.dimensions(ofMip: mip)
        let size = info.mipSize(mip)
        let params = StyleParameters(style)
        // Palette comes from the texture seed, detail from the mip seed: mips share colours, not bytes.
        var paletteRNG = FixtureRNG(seed: Seed.derive(seed, "palette"))
        var rng = FixtureRNG(seed: Seed.derive(seed, mip))
        let bw = max(1, (w + 3) / 4), bh = max(1, (h + 3) / 4)
        var field = SmoothField(blocksWide: bw, blocksHigh: bh, params: params, palette: &paletteRNG, rng: &rng)
        return [UInt8](unsafeUninitializedCapacity: size) { buf, count in
            let base = UnsafeMutableRawPointer(buf.baseAddress!)
            switch info.format {
            case .bc1: fillBC1(base, bw, bh, &field, &rng, params)
            case .bc3: fillBC3(base, bw, bh, &field, &rng, params)
            case .bc5: fillBC5(base, bw, bh, &field, &rng, params)
            case .bc7: fillBC7(base, bw, bh, &field, &rng, params)
            case .bgra8: fillBGRA(base, w, h, &field, &rng, params)
            }
            count = size
        }
    }

    struct StyleParameters {
        var amplitude: Int   // spread of the low-frequency field around the palette colour
        var contrast: Int    // typical endpoint distance within one block
        var flatBelow: Int   // detail-channel value under which a block is solid
        var gradientShare: UInt64  // out of 256: blocks with a structured index pattern
        var alphaOpaque: UInt64    // out of 256: BC3 blocks with constant alpha
        var center: (Int, Int, Int)?  // fixed palette centre (normal maps point up), or random per texture

        init(_ style: TextureStyle) {
            switch style {
            case .diffuse: (amplitude, contrast, flatBelow, gradientShare, alphaOpaque, center) = (70, 14, 20, 90, 180, nil)
            case .normal: (amplitude, contrast, flatBelow, gradientShare, alphaOpaque, center) = (34, 12, 8, 60, 256, (128, 128, 255))
            case .specular: (amplitude, contrast, flatBelow, gradientShare, alphaOpaque, center) = (40, 8, 60, 90, 256, (50, 90, 0))
            case .glow: (amplitude, contrast, flatBelow, gradientShare, alphaOpaque, center) = (30, 10, 150, 60, 256, (10, 10, 10))
            case .interface: (amplitude, contrast, flatBelow, gradientShare, alphaOpaque, center) = (90, 10, 70, 120, 160, nil)
            }
        }
    }

    /// Bilinear value noise over a coarse grid (one node per 8×8 blocks), 4 channels: R, G, B, detail.
    struct SmoothField {
        let cell = 8
        let gridWide: Int
        var grid: [Int32]   // (gridHigh × gridWide × 4), values 0...255 scaled by 16
        var row: [Int32]    // current row, interpolated vertically
        var rowIndex = -1

        init(blocksWide: Int, blocksHigh: Int, params: StyleParameters, palette: inout FixtureRNG, rng: inout FixtureRNG) {
            gridWide = blocksWide / cell + 2
            let gridHigh = blocksHigh / cell + 2
            let center = params.center ?? (palette.int(40...210), palette.int(40...210), palette.int(40...210))
            let amp = params.amplitude
            grid = [Int32](repeating: 0, count: gridWide * gridHigh * 4)
            for i in 0..<(gridWide * gridHigh) {
                let shared = rng.int(-amp...amp)  // luminance variation shared by all channels
                let c = [center.0, center.1, center.2]
                for ch in 0..<3 {
                    let v = c[ch] + shared + rng.int(-(amp / 3)...(amp / 3))
                    grid[i * 4 + ch] = Int32(min(255, max(0, v)) * 16)
                }
                grid[i * 4 + 3] = Int32(rng.int(0...255) * 16)
            }
            row = [Int32](repeating: 0, count: gridWide * 4)
        }

        mutating func prepareRow(_ by: Int) {
            let gy = by / cell, ty = Int32(by % cell)
            let a = gy * gridWide * 4, b = (gy + 1) * gridWide * 4
            for i in 0..<(gridWide * 4) {
                row[i] = (grid[a + i] * (Int32(cell) - ty) + grid[b + i] * ty) / Int32(cell)
            }
            rowIndex = by
        }

        /// Channel values 0...255 at block `bx` of the prepared row.
        @inline(__always)
        func sample(_ bx: Int) -> (Int, Int, Int, Int) {
            let gx = bx / cell, tx = Int32(bx % cell), c = Int32(cell)
            let i = gx * 4
            return row.withUnsafeBufferPointer { r in
                let v0 = (r[i] * (c - tx) + r[i + 4] * tx) / (c * 16)
                let v1 = (r[i + 1] * (c - tx) + r[i + 5] * tx) / (c * 16)
                let v2 = (r[i + 2] * (c - tx) + r[i + 6] * tx) / (c * 16)
                let v3 = (r[i + 3] * (c - tx) + r[i + 7] * tx) / (c * 16)
                return (Int(v0), Int(v1), Int(v2), Int(v3))
            }
        }
    }

    // Index patterns that a real encoder emits for smooth ramps: rows or columns running c0 → c1.
    static let rampRows: [UInt32] = [0xAFAF_AFAF, 0x5555_0000, 0xFAFA_5050, 0xE4E4_E4E4, 0x1B1B_1B1B]
    static let rampNibbles: [UInt64] = [0x0123_4567_89AB_CDEF, 0xFFFF_BBBB_7777_3333, 0x0000_4444_8888_CCCC, 0x1111_5555_9999_DDDD]

    @inline(__always)
    static func clamp8(_ v: Int) -> Int { v < 0 ? 0 : (v > 255 ? 255 : v) }

    @inline(__always)
    static func rgb565(_ r: Int, _ g: Int, _ b: Int) -> UInt16 {
        UInt16(clamp8(r) >> 3) << 11 | UInt16(clamp8(g) >> 2) << 5 | UInt16(clamp8(b) >> 3)
    }

    /// One BC1 colour block as a little-endian u64.
    @inline(__always)
    static func bc1Block(_ s: (Int, Int, Int, Int), _ rng: inout FixtureRNG, _ p: StyleParameters) -> UInt64 {
        let noise = rng.next()
        let jitter = Int(noise & 7) - 3
        if s.3 < p.flatBelow {
            let c = rgb565(s.0 + jitter, s.1 + jitter, s.2 + jitter)
            return UInt64(c) | UInt64(c) << 16
        }
        let k = p.contrast / 2 + (s.3 * p.contrast) / 255 + Int((noise >> 3) & 3)
        var c0 = rgb565(s.0 + k + jitter, s.1 + k, s.2 + k - jitter)
        var c1 = rgb565(s.0 - k, s.1 - k + jitter, s.2 - k)
        if c0 < c1 { swap(&c0, &c1) }
        if c0 == c1 { return UInt64(c0) | UInt64(c1) << 16 }
        let indices: UInt32
        if (noise >> 8) & 0xFF < p.gradientShare {
            let ramp = rampRows[Int((noise >> 16) % UInt64(rampRows.count))]
            let bits = rng.next()
            indices = ramp ^ UInt32(truncatingIfNeeded: bits & (bits >> 21) & (bits >> 42))
        } else {
            indices = UInt32(truncatingIfNeeded: rng.next())
        }
        return UInt64(c0) | UInt64(c1) << 16 | UInt64(indices) << 32
    }

    /// One BC4 block (8 endpoints mode) for a single channel value.
    @inline(__always)
    static func bc4Block(_ value: Int, _ detail: Int, _ rng: inout FixtureRNG, _ p: StyleParameters) -> UInt64 {
        let noise = rng.next()
        let v = clamp8(value + Int(noise & 3) - 1)
        if detail < p.flatBelow { return UInt64(v) | UInt64(v) << 8 }
        let k = p.contrast / 2 + (detail * p.contrast) / 255 + Int((noise >> 2) & 3)
        let a0 = clamp8(v + k), a1 = clamp8(v - k)
        if a0 == a1 { return UInt64(a0) | UInt64(a1) << 8 }
        var indices: UInt64
        if (noise >> 8) & 0xFF < p.gradientShare {
            let bits = rng.next()
            indices = 0x6DB6_DB6D_B6DB ^ (bits & (bits >> 17) & (bits >> 34))
        } else {
            indices = rng.next()
        }
        return UInt64(a0) | UInt64(a1) << 8 | (indices & 0xFFFF_FFFF_FFFF) << 16
    }

    static func fillBC1(_ out: UnsafeMutableRawPointer, _ bw: Int, _ bh: Int, _ f: inout SmoothField, _ rng: inout FixtureRNG, _ p: StyleParameters) {
        var offset = 0
        for by in 0..<bh {
            f.prepareRow(by)
            for bx in 0..<bw {
                out.storeBytes(of: bc1Block(f.sample(bx), &rng, p).littleEndian, toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
        }
    }

    static func fillBC3(_ out: UnsafeMutableRawPointer, _ bw: Int, _ bh: Int, _ f: inout SmoothField, _ rng: inout FixtureRNG, _ p: StyleParameters) {
        var offset = 0
        for by in 0..<bh {
            f.prepareRow(by)
            for bx in 0..<bw {
                let s = f.sample(bx)
                let alpha: UInt64 = rng.next() & 0xFF < p.alphaOpaque
                    ? 0xFFFF
                    : bc4Block(s.3, 255, &rng, p)
                out.storeBytes(of: alpha.littleEndian, toByteOffset: offset, as: UInt64.self)
                out.storeBytes(of: bc1Block(s, &rng, p).littleEndian, toByteOffset: offset + 8, as: UInt64.self)
                offset += 16
            }
        }
    }

    static func fillBC5(_ out: UnsafeMutableRawPointer, _ bw: Int, _ bh: Int, _ f: inout SmoothField, _ rng: inout FixtureRNG, _ p: StyleParameters) {
        var offset = 0
        for by in 0..<bh {
            f.prepareRow(by)
            for bx in 0..<bw {
                let s = f.sample(bx)
                out.storeBytes(of: bc4Block(s.0, s.3, &rng, p).littleEndian, toByteOffset: offset, as: UInt64.self)
                out.storeBytes(of: bc4Block(s.1, s.3, &rng, p).littleEndian, toByteOffset: offset + 8, as: UInt64.self)
                offset += 16
            }
        }
    }

    /// BC7 mode 6 blocks (7-bit RGBA endpoints, p-bits, 4-bit indices), the mode encoders favour for opaque art.
    static func fillBC7(_ out: UnsafeMutableRawPointer, _ bw: Int, _ bh: Int, _ f: inout SmoothField, _ rng: inout FixtureRNG, _ p: StyleParameters) {
        var offset = 0
        for by in 0..<bh {
            f.prepareRow(by)
            for bx in 0..<bw {
                let s = f.sample(bx)
                let noise = rng.next()
                let k = p.contrast / 2 + (s.3 * p.contrast) / 255 + Int(noise & 7)
                let j = Int((noise >> 3) & 3) - 1
                func e(_ v: Int) -> UInt64 { UInt64(clamp8(v) >> 1) }
                var lo: UInt64 = 0x40
                lo |= e(s.0 + k + j) << 7 | e(s.0 - k) << 14
                lo |= e(s.1 + k) << 21 | e(s.1 - k + j) << 28
                lo |= e(s.2 + k - j) << 35 | e(s.2 - k) << 42
                lo |= UInt64(0x7F) << 49 | UInt64(0x7F) << 56
                lo |= ((noise >> 5) & 1) << 63
                let indices: UInt64
                if (noise >> 8) & 0xFF < p.gradientShare {
                    let bits = rng.next()
                    indices = rampNibbles[Int((noise >> 16) & 3)] ^ (bits & (bits >> 13))
                } else {
                    indices = rng.next()
                }
                // The anchor index has only 3 bits, so the 63 index bits follow the second p-bit.
                let hi = ((noise >> 6) & 1) | (indices & 0x7FFF_FFFF_FFFF_FFFF) << 1
                out.storeBytes(of: lo.littleEndian, toByteOffset: offset, as: UInt64.self)
                out.storeBytes(of: hi.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
                offset += 16
            }
        }
    }

    static func fillBGRA(_ out: UnsafeMutableRawPointer, _ w: Int, _ h: Int, _ f: inout SmoothField, _ rng: inout FixtureRNG, _ p: StyleParameters) {
        for y in 0..<h {
            f.prepareRow(y / 4)
            var bits: UInt64 = 0
            for x in 0..<w {
                if x & 7 == 0 { bits = rng.next() }
                let s = f.sample(x / 4)
                let n = Int(bits & 7) - 3
                bits >>= 8
                let a: UInt32 = s.3 < p.flatBelow ? 0 : 255
                let pixel = UInt32(clamp8(s.2 + n)) | UInt32(clamp8(s.1 + n)) << 8 | UInt32(clamp8(s.0 + n)) << 16 | a << 24
                out.storeBytes(of: pixel.littleEndian, toByteOffset: (y * w + x) * 4, as: UInt32.self)
            }
        }
    }
}
