// Turns (seed, scale) into a FixturePlan: which mods exist, what each contains, and how big it is.

/// Builds the files of one mod while tracking how many bytes they will take.
struct ModBuilder {
    let name: String
    let role: ModRole
    let tag: String
    let seed: UInt64
    /// Newer mods use BC7 and next-gen archive versions; older ones BC1/BC5 and version 1.
    let modern: Bool
    var rng: FixtureRNG
    var files: [PlannedFile] = []
    var plugins: [PluginInfo] = []
    var estimate: Int64 = 0
    private var usedItems = Set<String>()

    init(name: String, role: ModRole, seed: UInt64) {
        self.name = name
        self.role = role
        self.seed = seed
        rng = FixtureRNG(seed: seed)
        modern = rng.chance(0.4)
        let initials = name.split(separator: " ").compactMap { $0.first(where: \.isLetter) }.map { String($0).uppercased() }
        tag = String(initials.joined().prefix(4)) + String(rng.int(1...99))
    }

    var base: String { Words.identifier(name) }
    var root: String { "mods/\(name)/" }

    mutating func add(_ path: String, _ spec: FileSpec, estimate bytes: Int64) {
        files.append(PlannedFile(path: root + path, spec: spec))
        estimate += bytes
    }

    func contentSeed(_ label: String) -> UInt64 { Seed.derive(seed, label) }

    mutating func uniqueItem() -> String {
        while true {
            let item = Words.identifier(Words.itemName(&rng))
            if usedItems.insert(item).inserted { return item }
        }
    }

    // MARK: Textures

    struct TextureFile {
        var spec: TextureSpec
        /// Data-relative path with `/`, e.g. `Textures/Weapons/WWP12/Rifle_d.dds`.
        var path: String
    }

    struct SetFormats {
        var diffuse: TextureFormat, normal: TextureFormat, specular: TextureFormat
        var halfSpecular: Bool, wide: Bool
    }

    mutating func setFormats() -> SetFormats {
        let diffuse: TextureFormat = modern ? .bc7 : (rng.chance(0.2) ? .bc3 : .bc1)
        let normal: TextureFormat = modern && rng.chance(0.3) ? .bc7 : .bc5
        let specular: TextureFormat = rng.chance(0.8) ? .bc5 : .bc1
        return SetFormats(diffuse: diffuse, normal: normal, specular: specular, halfSpecular: rng.chance(0.4), wide: rng.chance(0.1))
    }

    func setTextures(_ f: SetFormats, dim: Int, seedLabel: String) -> [(TextureSpec, String)] {
        let h = f.wide ? max(4, dim / 2) : dim
        let sd = f.halfSpecular ? max(4, dim / 2) : dim
        let sh = f.halfSpecular ? max(4, h / 2) : h
        return [
            (TextureSpec(seed: contentSeed(seedLabel + "_d"), info: TextureInfo(width: dim, height: h, format: f.diffuse), style: .diffuse), "_d"),
            (TextureSpec(seed: contentSeed(seedLabel + "_n"), info: TextureInfo(width: dim, height: h, format: f.normal), style: .normal), "_n"),
            (TextureSpec(seed: contentSeed(seedLabel + "_s"), info: TextureInfo(width: sd, height: sh, format: f.specular), style: .specular), "_s"),
        ]
    }

    static func textureCost(_ t: TextureSpec, path: String, archived: Bool) -> Int64 {
        archived ? Estimator.archivedTexture(t, pathLength: path.utf8.count) : Estimator.looseTexture(t, style: .legacy)
    }

    /// Texture sets (diffuse, normal, specular) filling `budget`, then single small textures for the rest.
    mutating func textures(budget: Int64, category: String, archived: Bool, minimum: Int = 0) -> [TextureFile] {
        var out: [TextureFile] = []
        var remaining = budget
        let dims = [4096, 2048, 1024, 512, 256, 128, 64]
        while true {
            let formats = setFormats()
            let costs = dims.map { dim in
                setTextures(formats, dim: dim, seedLabel: "cost").reduce(Int64(0)) { $0 + Self.textureCost($1.0, path: "Textures/\(category)/\(tag)/ItemName_d.dds", archived: archived) }
            }
            guard var i = dims.indices.first(where: { costs[$0] * 2 <= remaining })
                ?? dims.indices.first(where: { costs[$0] <= remaining })
                ?? (out.count < minimum ? dims.count - 1 : nil)
            else { break }
            if i + 1 < dims.count && rng.chance(0.35) { i += 1 }
            let item = uniqueItem()
            let prefix = "Textures/\(category)/\(tag)/\(item)"
            for (spec, suffix) in setTextures(formats, dim: dims[i], seedLabel: prefix) {
                let file = TextureFile(spec: spec, path: prefix + suffix + ".dds")
                remaining -= Self.textureCost(spec, path: file.path, archived: archived)
                out.append(file)
            }
        }
        // Decals and icons use up what no full set fits into, so mods land close to their budget.
        while remaining > 2_000 {
            var dim = 2048
            func single(_ d: Int) -> TextureSpec {
                TextureSpec(seed: 0, info: TextureInfo(width: d, height: d, format: .bc1), style: .glow)
            }
            while dim > 16 && Self.textureCost(single(dim), path: "Textures/\(category)/\(tag)/ItemName_g.dds", archived: archived) > remaining { dim /= 2 }
            let path = "Textures/\(category)/\(tag)/\(uniqueItem())_\(rng.pick(["g", "decal", "icon"])).dds"
            let spec = TextureSpec(seed: contentSeed(path), info: TextureInfo(width: dim, height: dim, format: .bc1), style: rng.chance(0.5) ? .glow : .diffuse)
            remaining -= Self.textureCost(spec, path: path, archived: archived)
            out.append(TextureFile(spec: spec, path: path))
        }
        return out
    }

    // MARK: Other content

    struct ContentFile {
        var spec: ContentSpec
        var path: String
    }

    /// Papyrus-style relative texture paths of a set, as materials and NIFs store them.
    static func materialPaths(_ textures: [TextureFile]) -> [String] {
        textures.map { String($0.path.dropFirst("Textures/".count)).replacing("/", with: "\\") }
    }

    mutating func meshes(budget: Int64, category: String, textures: [TextureFile], minimum: Int = 1) -> [ContentFile] {
        var out: [ContentFile] = []
        var remaining = budget
        let largest = Int(min(3_000_000, max(6_000, budget / 3)))
        while remaining >= 4_000 || out.count < minimum {
            let size = Int(min(Int64(rng.logUniform(4_000...max(4_001, largest))), max(4_000, remaining)))
            let path = "Meshes/\(category)/\(tag)/\(uniqueItem()).nif"
            let paths = textures.isEmpty ? [] : Self.materialPaths(Array(textures.prefix(3))).map { "textures\\" + $0 }
            out.append(ContentFile(spec: ContentSpec(kind: .nif(name: path.split(separator: "/").last.map(String.init) ?? path, textures: paths), seed: contentSeed(path), size: size), path: path))
            remaining -= Int64(size)
        }
        return out
    }

    mutating func materials(for textures: [TextureFile], category: String) -> [ContentFile] {
        var out: [ContentFile] = []
        for t in textures where t.path.hasSuffix("_d.dds") {
            let stem = t.path.split(separator: "/").last!.dropLast("_d.dds".count)
            let set = textures.filter { $0.path.contains("/\(stem)_") }
            let path = "Materials/\(category)/\(tag)/\(stem).bgsm"
            out.append(ContentFile(spec: ContentSpec(kind: .bgsm(textures: Self.materialPaths(set)), seed: contentSeed(path), size: 420), path: path))
        }
        return out
    }

    mutating func scripts(budget: Int64, sources: Bool, minimum: Int = 1) -> [ContentFile] {
        var out: [ContentFile] = []
        var remaining = budget
        let author = rng.pick(Words.nouns).lowercased() + "modder"
        while remaining >= 1_500 || out.filter({ $0.path.hasSuffix(".pex") }).count < minimum {
            let script = tag.filter(\.isLetter) + "_" + rng.pick(Words.scriptVerbs) + rng.pick(Words.nouns) + "Script"
            let size = Int(min(Int64(rng.int(1_500...min(40_000, max(1_500, Int(budget / 3))))), max(1_500, remaining)))
            let pex = "Scripts/\(tag.filter(\.isLetter))/\(script).pex"
            if files.contains(where: { $0.path == root + pex }) || out.contains(where: { $0.path == pex }) { continue }
            out.append(ContentFile(spec: ContentSpec(kind: .pex(script: script, author: author), seed: contentSeed(pex), size: size), path: pex))
            remaining -= Int64(size)
            if sources {
                let psc = "Scripts/Source/User/\(tag.filter(\.isLetter))/\(script).psc"
                let pscSize = size * 2 / 3
                out.append(ContentFile(spec: ContentSpec(kind: .psc(script: script), seed: contentSeed(psc), size: pscSize), path: psc))
                remaining -= Int64(pscSize)
            }
        }
        return out
    }

    mutating func sounds(budget: Int64, voices: Bool, pluginName: String) -> [ContentFile] {
        var out: [ContentFile] = []
        var remaining = budget
        let voiceType = rng.pick(["MaleEvenToned", "FemaleBoston", "MaleRough", "FemaleRough", "RobotMrHandy"])
        while remaining >= 8_000 {
            let size = Int(min(Int64(voices ? rng.int(8_000...90_000) : rng.int(20_000...300_000)), remaining))
            let path = voices
                ? "Sound/Voice/\(pluginName)/\(voiceType)/\(String(0x800 + out.count * 7, radix: 16, uppercase: true).leftPadded(8))_1.fuz"
                : "Sound/FX/\(tag)/\(uniqueItem()).xwm"
            out.append(ContentFile(spec: ContentSpec(kind: .sound(fuz: voices), seed: contentSeed(path), size: size), path: path))
            remaining -= Int64(size)
        }
        return out
    }

    // MARK: Plugins

    mutating func plugin(
        fileName: String, budget: Int64, mix: [(String, Double)], masters: [String], flags: UInt32 = 0,
        minimumRecords: Int = 0, oversize: Int = 0, overrides: Int = 0
    ) -> PluginSpec {
        var counts: [PluginSpec.RecordCount] = []
        let budget = min(budget, FixturePlanner.maximumPluginBytes)
        if !mix.isEmpty {
            let weightSum = mix.reduce(0.0) { $0 + $1.1 }
            let average = mix.reduce(0.0) { $0 + $1.1 * (Estimator.recordSizes[$1.0] ?? 200) } / weightSum
            let available = Double(budget) - 400 - Double(oversize * Estimator.oversizeRecordBytes) - Double(overrides * 300)
            let total = max(minimumRecords, Int(max(0, available) / average), mix.count)
            counts = mix.map { PluginSpec.RecordCount(signature: $0.0, count: max(1, Int((Double(total) * $0.1 / weightSum).rounded()))) }
        }
        let spec = PluginSpec(
            fileName: fileName, seed: contentSeed(fileName), masters: masters, flags: flags, prefix: tag + "_",
            counts: counts, overrides: overrides, oversizeRecords: oversize, edit: nil)
        add(fileName, .plugin(spec), estimate: Estimator.plugin(spec))
        plugins.append(PluginInfo(fileName: fileName, masters: masters, isMaster: flags & PluginHeader.esmFlag != 0 || fileName.hasSuffix(".esm") || fileName.hasSuffix(".esl")))
        return spec
    }

    mutating func masters() -> [String] {
        var m = ["Fallout4.esm"]
        if rng.chance(0.3) { m.append("DLCRobot.esm") }
        if rng.chance(0.3) { m.append("DLCCoast.esm") }
        if rng.chance(0.2) { m.append("DLCworkshop01.esm") }
        return m
    }

    // MARK: Archives

    enum PathStyle { case creationKit, forward, lowercase }

    static func archivePath(_ dataPath: String, _ style: PathStyle) -> String {
        switch style {
        case .creationKit: dataPath.replacing("/", with: "\\")
        case .forward: dataPath
        case .lowercase: dataPath.lowercased().replacing("/", with: "\\")
        }
    }

    mutating func pathStyle() -> PathStyle { rng.pick([.creationKit, .creationKit, .forward, .lowercase]) }

    mutating func textureArchive(_ name: String, _ textures: [TextureFile]) {
        guard !textures.isEmpty else { return }
        let style = pathStyle()
        let members = textures.map {
            MemberSpec(path: Self.archivePath($0.path, style), storage: .zlib(.creationKit), body: .texture($0.spec))
        }
        let cost = textures.reduce(Int64(24)) { $0 + Self.textureCost($1.spec, path: $1.path, archived: true) }
        add(name, .archive(ArchiveSpec(type: .textures, version: modern ? .v7 : .v1, members: members)), estimate: cost)
    }

    mutating func generalArchive(_ name: String, _ contents: [ContentFile], zlib: ZlibSettings = .creationKit, forceRaw: Bool = false) {
        guard !contents.isEmpty else { return }
        let style = pathStyle()
        var cost: Int64 = 24
        let members = contents.map { c -> MemberSpec in
            // Archive2 leaves audio (and the CK sample's .txt) uncompressed; everything else is zlib.
            let raw = forceRaw || c.spec.category == "sound"
            let storage: BA2Storage = raw ? .raw : .zlibIfSmaller(zlib)
            cost += Estimator.archivedContent(c.spec, storage: storage, pathLength: c.path.utf8.count)
            return MemberSpec(path: Self.archivePath(c.path, style), storage: storage, body: .content(c.spec))
        }
        add(name, .archive(ArchiveSpec(type: .general, version: modern ? .v8 : .v1, members: members)), estimate: cost)
    }

    mutating func looseTextures(_ textures: [TextureFile]) {
        for t in textures {
            let style: DDSHeaderStyle = modern || t.spec.info.format == .bc7 ? .dx10 : .legacy
            add(t.path, .dds(t.spec, style), estimate: Estimator.looseTexture(t.spec, style: style))
        }
    }

    mutating func looseContent(_ contents: [ContentFile]) {
        for c in contents { add(c.path, .content(c.spec), estimate: Int64(c.spec.size)) }
    }

    mutating func readme(_ title: String) {
        let path = rng.pick(["readme.txt", "README.txt", "\(base) - Readme.txt"])
        looseContent([ContentFile(spec: ContentSpec(kind: .readme(title: title), seed: contentSeed(path), size: rng.int(800...6_000)), path: path)])
    }

    /// MO2's per-mod meta.ini (CRLF, QSettings layout); separators get the short form MO2 writes for them.
    mutating func metaIni() {
        var lines: [String]
        if role == .separator {
            lines = ["[General]", "modid=0", "version=", "newestVersion=", "category=0", "installationFile=", "repository=", "gameName=Fallout4", "comments=", "notes=", "color=@Variant(\\0\\0\\0\\x43\\x1\\xff\\xff\\x66\\x66\\x99\\x99\\x33\\x33\\0\\0)", "tracked=0"]
        } else {
            let modid = rng.int(1_000...85_000)
            let version = "\(rng.int(1...5)).\(rng.int(0...12)).\(rng.int(0...9))"
            let description = (0..<rng.int(2...8)).map { _ in "<p>" + Words.paragraph(&rng, sentences: rng.int(1...4)) + "</p>" }.joined(separator: "\\n")
            let date = "20\(rng.int(16...24))-\(String(rng.int(1...12)).leftPadded(2))-\(String(rng.int(1...28)).leftPadded(2))T\(String(rng.int(0...23)).leftPadded(2)):\(String(rng.int(0...59)).leftPadded(2)):00Z"
            lines = [
                "[General]", "gameName=Fallout4", "modid=\(modid)", "version=\(version)", "newestVersion=\(version)",
                "category=\"\(rng.int(1...60)),\"", "nexusFileStatus=1",
                "installationFile=\(base)-\(modid)-\(version.replacing(".", with: "-"))-\(rng.int(1_500_000_000...1_720_000_000)).7z",
                "repository=Nexus", "ignoredVersion=", "comments=", "notes=", "nexusDescription=\"\(description)\"",
                "url=", "hasCustomURL=false", "lastNexusQuery=\(date)", "lastNexusUpdate=\(date)", "nexusLastModified=\(date)",
                "nexusCategory=\(rng.int(1...60))", "converted=false", "validated=false", "color=@Variant(\\0\\0\\0\\x43\\0\\xff\\xff\\0\\0\\0\\0\\0\\0\\0\\0)",
                "tracked=0", "endorsed=0", "", "[installedFiles]", "1\\modid=\(modid)", "1\\fileid=\(rng.int(10_000...300_000))", "size=1",
            ]
        }
        let bytes = ContentSynth.crlf(lines)
        add("meta.ini", .text(bytes), estimate: Int64(bytes.count))
    }

    func finish(core: Bool) -> ModPlan {
        ModPlan(name: name, role: role, isCore: core, files: files, plugins: plugins, estimate: estimate)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
