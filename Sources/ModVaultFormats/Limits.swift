/// Caps that keep hostile input from costing unbounded memory or time.
///
/// Every size is also checked against the actual file size, so these only bound structures whose
/// in-memory form is larger than their bytes on disk (entry lists, record lists, surface lists).
public struct FormatLimits: Sendable, Equatable {
    /// Most BA2 entries accepted (vanilla Fallout 4 archives hold tens of thousands).
    public var maxEntries: Int
    /// Deepest GRUP nesting accepted in a plugin (Fallout 4 uses at most 6).
    public var maxGroupDepth: Int
    /// Most records and groups accepted in one plugin.
    public var maxRecords: Int
    /// Most DDS surfaces (faces × array slices × mips) accepted.
    public var maxSurfaces: Int
    /// Most mip levels accepted in a DDS header.
    public var maxMipCount: Int
    /// Largest decompressed size accepted for one compressed plugin record.
    public var maxDecompressedRecord: UInt64

    /// Creates limits; the defaults are far above anything a real mod contains.
    public init(maxEntries: Int = 1 << 20, maxGroupDepth: Int = 32, maxRecords: Int = 1 << 24,
                maxSurfaces: Int = 1 << 16, maxMipCount: Int = 32, maxDecompressedRecord: UInt64 = 1 << 28) {
        self.maxEntries = maxEntries
        self.maxGroupDepth = maxGroupDepth
        self.maxRecords = maxRecords
        self.maxSurfaces = maxSurfaces
        self.maxMipCount = maxMipCount
        self.maxDecompressedRecord = maxDecompressedRecord
    }

    /// The default limits.
    public static let `default` = FormatLimits()
}
