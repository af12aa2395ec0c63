/// How the pixels of one surface are stored, which fixes the byte size of every mip level.
public enum PixelLayout: Sendable, Equatable, Codable {
    /// 4×4 blocks of `blockBytes` bytes (8 for BC1/BC4, 16 for BC2/BC3/BC5/BC6H/BC7).
    case blockCompressed(blockBytes: Int)
    /// Rows of `bitsPerPixel`-bit pixels with no padding.
    case uncompressed(bitsPerPixel: Int)

    /// Byte size of mip level `mip` of a `width`×`height` surface, or nil if it overflows 64 bits.
    public func surfaceSize(width: UInt64, height: UInt64, mip: Int) -> UInt64? {
        guard mip >= 0, mip < 64 else { return nil }
        let w = max(1, width >> UInt64(mip))
        let h = max(1, height >> UInt64(mip))
        switch self {
        case .blockCompressed(let blockBytes):
            let (blocks, o1) = max(1, (w + 3) / 4).multipliedReportingOverflow(by: max(1, (h + 3) / 4))
            let (bytes, o2) = blocks.multipliedReportingOverflow(by: UInt64(blockBytes))
            return o1 || o2 ? nil : bytes
        case .uncompressed(let bpp):
            let (bits, o1) = w.multipliedReportingOverflow(by: UInt64(bpp))
            let (bytes, o2) = ((bits + 7) / 8).multipliedReportingOverflow(by: h)
            return o1 || o2 ? nil : bytes
        }
    }
}

/// DXGI_FORMAT values: the formats whose surface layout this layer knows, and their names.
public enum DXGI {
    /// The layout of `format`, or nil for formats this layer cannot lay out.
    public static func layout(_ format: UInt32) -> PixelLayout? {
        switch format {
        case 70, 71, 72, 79, 80, 81: return .blockCompressed(blockBytes: 8)  // BC1, BC4
        case 73, 74, 75, 76, 77, 78, 82, 83, 84, 94, 95, 96, 97, 98, 99: return .blockCompressed(blockBytes: 16)
        case 1, 2, 3, 4: return .uncompressed(bitsPerPixel: 128)  // R32G32B32A32
        case 5, 6, 7, 8: return .uncompressed(bitsPerPixel: 96)  // R32G32B32
        case 9...14: return .uncompressed(bitsPerPixel: 64)  // R16G16B16A16
        case 23, 24, 25, 26, 27, 28, 29, 30, 31, 32: return .uncompressed(bitsPerPixel: 32)  // R10G10B10A2, R11G11B10, R8G8B8A8
        case 33...47: return .uncompressed(bitsPerPixel: 32)  // R16G16, R32 and friends
        case 48...52: return .uncompressed(bitsPerPixel: 16)  // R8G8
        case 53...59: return .uncompressed(bitsPerPixel: 16)  // R16
        case 60...65: return .uncompressed(bitsPerPixel: 8)  // R8, A8
        case 85, 86, 115: return .uncompressed(bitsPerPixel: 16)  // B5G6R5, B5G5R5A1, B4G4R4A4
        case 87, 88, 90, 91, 92, 93: return .uncompressed(bitsPerPixel: 32)  // B8G8R8A8/X8
        default: return nil
        }
    }

    /// A short name such as `BC7_UNORM`, or `DXGI_<n>` for formats without one here.
    public static func name(_ format: UInt32) -> String {
        switch format {
        case 28: return "R8G8B8A8_UNORM"
        case 29: return "R8G8B8A8_UNORM_SRGB"
        case 49: return "R8G8_UNORM"
        case 61: return "R8_UNORM"
        case 65: return "A8_UNORM"
        case 71: return "BC1_UNORM"
        case 72: return "BC1_UNORM_SRGB"
        case 74: return "BC2_UNORM"
        case 75: return "BC2_UNORM_SRGB"
        case 77: return "BC3_UNORM"
        case 78: return "BC3_UNORM_SRGB"
        case 80: return "BC4_UNORM"
        case 81: return "BC4_SNORM"
        case 83: return "BC5_UNORM"
        case 84: return "BC5_SNORM"
        case 87: return "B8G8R8A8_UNORM"
        case 88: return "B8G8R8X8_UNORM"
        case 91: return "B8G8R8A8_UNORM_SRGB"
        case 95: return "BC6H_UF16"
        case 96: return "BC6H_SF16"
        case 98: return "BC7_UNORM"
        case 99: return "BC7_UNORM_SRGB"
        default: return "DXGI_\(format)"
        }
    }

    /// The DXGI format a legacy DDS fourCC stands for (`DXT1` → 71, `ATI2` → 83, …).
    public static func format(fourCC: String) -> UInt32? {
        switch fourCC {
        case "DXT1": return 71
        case "DXT2", "DXT3": return 74
        case "DXT4", "DXT5": return 77
        case "ATI1", "BC4U": return 80
        case "BC4S": return 81
        case "ATI2", "BC5U": return 83
        case "BC5S": return 84
        default: return nil
        }
    }
}

/// One surface of a DDS file: one mip level of one face or array slice.
public struct DDSSurface: Sendable, Equatable, Codable {
    /// Array slice or cube face (faces +X, −X, +Y, −Y, +Z, −Z per slice), 0-based.
    public var face: Int
    /// Mip level, 0 = largest.
    public var mip: Int
    /// Absolute file offset.
    public var offset: UInt64
    /// Byte length.
    public var length: UInt64
}

/// A parsed DDS texture: header fields and the byte layout of every surface.
public struct DDSTexture: Sendable, Equatable, Codable {
    /// Width in pixels.
    public var width: UInt32
    /// Height in pixels.
    public var height: UInt32
    /// Number of mip levels (a header value of 0 counts as 1).
    public var mipCount: Int
    /// The DXGI format, or nil for a legacy uncompressed format described by bit masks only.
    public var dxgiFormat: UInt32?
    /// The legacy fourCC, or nil when the header has none.
    public var fourCC: String?
    /// Bits per pixel of a legacy uncompressed format.
    public var legacyBitsPerPixel: Int?
    /// True when the 20-byte DX10 extension header is present.
    public var hasDX10Header: Bool
    /// 128, or 148 with the DX10 extension.
    public var headerLength: Int
    /// Array size (1 for a plain texture).
    public var arraySize: Int
    /// True for a cubemap.
    public var isCubemap: Bool
    /// Faces × array slices.
    public var faceCount: Int
    /// Every surface in file order.
    public var surfaces: [DDSSurface]
    /// Bytes after the last surface (0 in a well-formed file).
    public var trailingBytes: UInt64
    /// Size of the file that was parsed.
    public var fileSize: UInt64

    /// The format's display name (`BC7_UNORM`, `DXT1`, `RGB32`).
    public var formatName: String {
        if let f = dxgiFormat { return DXGI.name(f) }
        if let c = fourCC { return c }
        return "RGB\(legacyBitsPerPixel ?? 0)"
    }

    /// Parses the header behind `reader` and lays out the surfaces; the pixel data is not read.
    public static func parse(_ reader: some RangeReader, path: String = "", limits: FormatLimits = .default) throws(FormatError) -> DDSTexture {
        let size = reader.size
        let h = try checkedRead(reader, offset: 0, count: min(size, 148), what: "DDS header", path: path)[...]
        guard h.count >= 4, h.fourCC(0) == "DDS " else {
            throw FormatError(path: path, cause: .badMagic(expected: "DDS ", found: Array(h.prefix(4))))
        }
        guard h.count >= 128 else {
            throw FormatError(path: path, cause: .endOfData(what: "DDS header", offset: 0, needed: 128, available: size))
        }
        guard h.u32(4) == 124 else { throw FormatError(path: path, cause: .malformed("DDS header size \(h.u32(4)), expected 124")) }
        let height = h.u32(12), width = h.u32(16)
        guard width > 0, height > 0 else {
            throw FormatError(path: path, cause: .malformed("DDS dimensions \(width)×\(height)"))
        }
        let mipCount = max(1, Int(h.u32(28)))
        guard mipCount <= limits.maxMipCount else {
            throw FormatError(path: path, cause: .limitExceeded(what: "DDS mip count", value: UInt64(mipCount), limit: UInt64(limits.maxMipCount)))
        }
        let pfFlags = h.u32(80)
        let caps2 = h.u32(112)
        if caps2 & 0x20_0000 != 0 { throw FormatError(path: path, cause: .unsupported("volume texture")) }

        var tex = DDSTexture(width: width, height: height, mipCount: mipCount, dxgiFormat: nil, fourCC: nil, legacyBitsPerPixel: nil,
                             hasDX10Header: false, headerLength: 128, arraySize: 1, isCubemap: false, faceCount: 1,
                             surfaces: [], trailingBytes: 0, fileSize: size)
        let layout: PixelLayout
        if pfFlags & 0x4 != 0 {
            let cc = h.fourCC(84)
            if cc == "DX10" {
                guard h.count >= 148 else {
                    throw FormatError(path: path, cause: .endOfData(what: "DDS DX10 header", offset: 128, needed: 20, available: size - 128))
                }
                tex.hasDX10Header = true
                tex.headerLength = 148
                let format = h.u32(128)
                let dimension = h.u32(132)
                guard dimension != 4 else { throw FormatError(path: path, cause: .unsupported("3D texture")) }
                tex.dxgiFormat = format
                tex.isCubemap = h.u32(136) & 0x4 != 0
                tex.arraySize = max(1, Int(h.u32(140)))
                guard let l = DXGI.layout(format) else {
                    throw FormatError(path: path, cause: .unsupported("DXGI format \(format)"))
                }
                layout = l
            } else {
                tex.fourCC = cc
                guard let format = DXGI.format(fourCC: cc), let l = DXGI.layout(format) else {
                    throw FormatError(path: path, cause: .unsupported("DDS fourCC \"\(cc)\""))
                }
                tex.dxgiFormat = format
                layout = l
                tex.isCubemap = caps2 & 0x200 != 0
            }
        } else if pfFlags & (0x40 | 0x2_0000 | 0x2 | 0x200 | 0x8_0000) != 0 {
            let bpp = Int(h.u32(88))
            guard bpp > 0, bpp <= 128, bpp % 8 == 0 else {
                throw FormatError(path: path, cause: .unsupported("DDS legacy format with \(bpp) bits per pixel"))
            }
            tex.legacyBitsPerPixel = bpp
            layout = .uncompressed(bitsPerPixel: bpp)
            tex.isCubemap = caps2 & 0x200 != 0
        } else {
            throw FormatError(path: path, cause: .unsupported("DDS pixel format flags 0x\(String(pfFlags, radix: 16))"))
        }

        var faces = 1
        if tex.isCubemap {
            // A legacy cubemap may store only some faces; the six face bits say which.
            faces = tex.hasDX10Header ? 6 : max(1, (caps2 & 0xFC00).nonzeroBitCount)
        }
        let (faceCount, overflow) = faces.multipliedReportingOverflow(by: tex.arraySize)
        guard !overflow, faceCount <= limits.maxSurfaces, faceCount * mipCount <= limits.maxSurfaces else {
            throw FormatError(path: path, cause: .limitExceeded(what: "DDS surface count", value: UInt64(tex.arraySize) * UInt64(faces) * UInt64(mipCount),
                                                                limit: UInt64(limits.maxSurfaces)))
        }
        tex.faceCount = faceCount

        var offset = UInt64(tex.headerLength)
        guard offset <= size else {
            throw FormatError(path: path, cause: .endOfData(what: "DDS header", offset: 0, needed: offset, available: size))
        }
        tex.surfaces.reserveCapacity(faceCount * mipCount)
        for face in 0..<faceCount {
            for mip in 0..<mipCount {
                guard let length = layout.surfaceSize(width: UInt64(width), height: UInt64(height), mip: mip),
                      length <= size - offset else {
                    throw FormatError(path: path, cause: .endOfData(what: "DDS face \(face) mip \(mip)", offset: offset,
                                                                    needed: layout.surfaceSize(width: UInt64(width), height: UInt64(height), mip: mip) ?? UInt64.max,
                                                                    available: size - offset))
                }
                tex.surfaces.append(DDSSurface(face: face, mip: mip, offset: offset, length: length))
                offset += length
            }
        }
        tex.trailingBytes = size - offset
        return tex
    }
}
