/// Texture pixel formats the generator writes, with their DXGI codes.
public enum TextureFormat: String, Sendable, Codable, CaseIterable {
    /// BC1 (DXT1), 8 bytes per 4×4 block.
    case bc1
    /// BC3 (DXT5), 16 bytes per block: BC4 alpha + BC1 colour.
    case bc3
    /// BC5 (ATI2), 16 bytes per block: two BC4 channels (normal and specular maps).
    case bc5
    /// BC7, 16 bytes per block; DX10 header only.
    case bc7
    /// Uncompressed B8G8R8A8, 4 bytes per pixel.
    case bgra8

    /// DXGI_FORMAT value used in DX10 headers and BA2 DX10 entries.
    public var dxgiFormat: UInt32 {
        switch self {
        case .bc1: 71
        case .bc3: 77
        case .bc5: 83
        case .bc7: 98
        case .bgra8: 87
        }
    }

    /// Bytes per 4×4 block for block-compressed formats, nil for uncompressed.
    public var blockBytes: Int? {
        switch self {
        case .bc1: 8
        case .bc3, .bc5, .bc7: 16
        case .bgra8: nil
        }
    }

    /// fourCC of the legacy DDS header, nil when the format needs DX10 or RGB masks.
    public var legacyFourCC: String? {
        switch self {
        case .bc1: "DXT1"
        case .bc3: "DXT5"
        case .bc5: "ATI2"
        case .bc7, .bgra8: nil
        }
    }
}

/// Dimensions, mip count and format of a 2D texture.
public struct TextureInfo: Sendable, Hashable, Codable {
    /// Width of mip 0 in pixels.
    public var width: Int
    /// Height of mip 0 in pixels.
    public var height: Int
    /// Number of mips stored (a full chain unless stated otherwise).
    public var mipCount: Int
    /// Pixel format.
    public var format: TextureFormat

    /// A texture of `width`×`height`; `mipCount` nil means the full chain down to 1×1.
    public init(width: Int, height: Int, format: TextureFormat, mipCount: Int? = nil) {
        precondition(width > 0 && height > 0 && width <= 0xFFFF && height <= 0xFFFF, "texture size out of range")
        self.width = width
        self.height = height
        self.format = format
        self.mipCount = mipCount ?? TextureInfo.fullMipCount(width: width, height: height)
    }

    /// Mip count of a full chain: floor(log2(max(w, h))) + 1.
    public static func fullMipCount(width: Int, height: Int) -> Int {
        var n = 1
        var size = max(width, height)
        while size > 1 { size >>= 1; n += 1 }
        return n
    }

    /// Width and height of `mip`.
    public func dimensions(ofMip mip: Int) -> (width: Int, height: Int) {
        (max(1, width >> mip), max(1, height >> mip))
    }

    /// Byte size of one surface of `mip` (§2.3).
    public func mipSize(_ mip: Int) -> Int {
        let (w, h) = dimensions(ofMip: mip)
        if let block = format.blockBytes {
            return max(1, (w + 3) / 4) * max(1, (h + 3) / 4) * block
        }
        return w * 4 * h
    }

    /// Sum of all mip sizes: the bytes after the DDS header and the total of a DX10 member's chunks.
    public var surfaceBytes: Int { (0..<mipCount).reduce(0) { $0 + mipSize($1) } }
}

/// Which DDS header a file gets.
public enum DDSHeaderStyle: String, Sendable, Codable {
    /// 128-byte header with a fourCC (or RGB masks for B8G8R8A8); BC7 always falls back to DX10.
    case legacy
    /// 128-byte header with fourCC `DX10` plus the 20-byte extension (148 bytes).
    case dx10
}

/// Writes DDS files: header followed by every mip surface, largest first.
public enum DDSWriter {
    /// Header length for `info` in `style` (128 or 148).
    public static func headerSize(_ info: TextureInfo, style: DDSHeaderStyle) -> Int {
        usesDX10(info, style) ? 148 : 128
    }

    static func usesDX10(_ info: TextureInfo, _ style: DDSHeaderStyle) -> Bool {
        style == .dx10 || (info.format.legacyFourCC == nil && info.format != .bgra8)
    }

    /// The DDS header bytes for `info`.
    public static func header(_ info: TextureInfo, style: DDSHeaderStyle) -> [UInt8] {
        let dx10 = usesDX10(info, style)
        let compressed = info.format.blockBytes != nil
        var b = ByteBuilder(capacity: 148)
        b.fourCC("DDS ")
        b.u32(124)
        // CAPS | HEIGHT | WIDTH | PIXELFORMAT | MIPMAPCOUNT, plus LINEARSIZE or PITCH.
        b.u32(0x1 | 0x2 | 0x4 | 0x1000 | 0x20000 | (compressed ? 0x80000 : 0x8))
        b.u32(UInt32(info.height))
        b.u32(UInt32(info.width))
        b.u32(UInt32(compressed ? info.mipSize(0) : info.width * 4))
        b.u32(0)  // depth
        b.u32(UInt32(info.mipCount))
        b.zeros(44)
        b.u32(32)  // DDS_PIXELFORMAT size
        if dx10 {
            b.u32(0x4)
            b.fourCC("DX10")
            b.zeros(20)
        } else if let fourCC = info.format.legacyFourCC {
            b.u32(0x4)
            b.fourCC(fourCC)
            b.zeros(20)
        } else {
            b.u32(0x41)  // RGB | ALPHAPIXELS
            b.u32(0)
            b.u32(32)
            b.u32(0x00FF_0000); b.u32(0x0000_FF00); b.u32(0x0000_00FF); b.u32(0xFF00_0000)
        }
        b.u32(info.mipCount > 1 ? 0x40_1008 : 0x1000)
        b.zeros(16)  // caps2, caps3, caps4, reserved2
        if dx10 {
            b.u32(info.format.dxgiFormat)
            b.u32(3)  // TEXTURE2D
            b.u32(0)
            b.u32(1)  // array size
            b.u32(0)
        }
        return b.bytes
    }

    /// Writes header then mips to `path`, asking `surface` for one mip at a time; returns the file size.
    @discardableResult
    public static func write(
        _ info: TextureInfo, style: DDSHeaderStyle, to path: String, surface: (Int) throws -> [UInt8]
    ) throws -> UInt64 {
        let file = try OutputFile(path: path)
        try file.write(header(info, style: style))
        for mip in 0..<info.mipCount {
            let data = try surface(mip)
            guard data.count == info.mipSize(mip) else {
                throw FixtureError.invalidArgument("mip \(mip) has \(data.count) bytes, expected \(info.mipSize(mip))")
            }
            try file.write(data)
        }
        return try file.close()
    }

    /// A whole DDS in memory from its surfaces (`surfaces[m]` = mip m).
    public static func bytes(_ info: TextureInfo, style: DDSHeaderStyle, surfaces: [[UInt8]]) -> [UInt8] {
        precondition(surfaces.count == info.mipCount, "one surface per mip expected")
        var out = header(info, style: style)
        for (mip, s) in surfaces.enumerated() {
            precondition(s.count == info.mipSize(mip), "mip \(mip) has the wrong size")
            out.append(contentsOf: s)
        }
        return out
    }
}
