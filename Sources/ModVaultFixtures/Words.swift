// Vocabulary for names, EditorIDs, descriptions and script identifiers. Real mod text repeats a small
// vocabulary heavily, which is what makes it compress the way it does.

enum Words {
    static let adjectives = [
        "Rusty", "Hardened", "Reinforced", "Tactical", "Scavenged", "Irradiated", "Polished", "Armored", "Heavy",
        "Light", "Advanced", "Classic", "Modern", "Improved", "Salvaged", "Military", "Institute", "Brotherhood",
        "Vault-Tec", "Minutemen", "Railroad", "Raider", "Gunner", "Wasteland", "Nuclear", "Atomic", "Shielded",
        "Lined", "Sturdy", "Damaged", "Pristine", "Ancient", "Makeshift", "Refined", "Charged", "Glowing",
    ]
    static let nouns = [
        "Rifle", "Pistol", "Shotgun", "Laser", "Plasma", "Armor", "Helmet", "Boots", "Gloves", "Jacket", "Coat",
        "Barrel", "Stock", "Scope", "Receiver", "Magazine", "Grip", "Muzzle", "Sight", "Plate", "Frame", "Cell",
        "Fusion", "Core", "Terminal", "Crate", "Locker", "Lantern", "Generator", "Turret", "Wall", "Floor", "Roof",
        "Door", "Window", "Fence", "Cabinet", "Table", "Chair", "Bed", "Shelf", "Pipe", "Valve", "Bottle", "Can",
        "Radio", "Holotape", "Stimpak", "Jet", "Mentats", "Cola", "Caps", "Ammo", "Round", "Shell", "Bolt", "Gear",
        "Spring", "Screw", "Copper", "Steel", "Aluminum", "Circuit", "Adhesive", "Ceramic", "Leather", "Cloth",
    ]
    static let places = [
        "Sanctuary", "Concord", "Lexington", "Diamond City", "Goodneighbor", "Bunker Hill", "Quincy", "Salem",
        "Far Harbor", "Nuka-World", "The Castle", "Vault 111", "Vault 81", "Red Rocket", "Starlight", "Covenant",
        "Spectacle Island", "Hangman's Alley", "Murkwater", "Oberland", "Finch Farm", "Tenpines", "Graygarden",
    ]
    static let modSubjects = [
        "Weapon Pack", "Armor Overhaul", "Settlement Objects", "Lighting", "Textures", "Retexture", "Interiors",
        "Power Armor", "Companions", "Quest Expansion", "Scrap Overhaul", "Clothing", "Vegetation", "Water",
        "Workshop Framework", "UI", "Patch", "Loot", "Encounters", "Sounds", "Road Signs", "Vault Decor",
    ]
    static let prose = [
        "the", "a", "of", "and", "to", "in", "is", "for", "with", "this", "mod", "adds", "new", "replaces",
        "vanilla", "textures", "meshes", "settlement", "weapon", "armor", "crafting", "workbench", "compatible",
        "requires", "load", "order", "after", "before", "patch", "version", "fixed", "issue", "where", "would",
        "not", "player", "items", "can", "be", "found", "at", "world", "level", "list", "integration", "optional",
        "file", "install", "with", "Mod", "Organizer", "Vortex", "uninstall", "save", "game", "support", "thanks",
        "resolution", "performance", "quality", "lore", "friendly", "immersive", "balanced", "damage", "value",
    ]
    static let scriptVerbs = [
        "Get", "Set", "Add", "Remove", "Update", "Check", "Apply", "Start", "Stop", "Register", "Handle", "Find",
        "Spawn", "Place", "Enable", "Disable", "Reset", "Count", "Move", "Open", "Close", "Equip", "Unequip",
    ]
    static let scriptTypes = [
        "Actor", "ObjectReference", "Form", "Keyword", "GlobalVariable", "Quest", "Weapon", "Armor", "MiscObject",
        "FormList", "LeveledItem", "Perk", "Spell", "Message", "Faction", "Location", "WorkshopScript",
    ]

    /// A sentence of `count` words, for descriptions, readmes and notes.
    static func sentence(_ rng: inout FixtureRNG, words count: Int) -> String {
        var parts: [String] = []
        parts.reserveCapacity(count)
        for i in 0..<count {
            let w = rng.pick(prose)
            parts.append(i == 0 ? w.prefix(1).uppercased() + w.dropFirst() : w)
        }
        return parts.joined(separator: " ") + "."
    }

    static func paragraph(_ rng: inout FixtureRNG, sentences: Int) -> String {
        (0..<sentences).map { _ in sentence(&rng, words: rng.int(6...16)) }.joined(separator: " ")
    }

    /// "Reinforced Plasma Scope"-style display names.
    static func itemName(_ rng: inout FixtureRNG) -> String {
        rng.chance(0.3) ? "\(rng.pick(adjectives)) \(rng.pick(nouns)) \(rng.pick(nouns))" : "\(rng.pick(adjectives)) \(rng.pick(nouns))"
    }

    /// CamelCase identifier without spaces or punctuation, for EditorIDs and file names.
    static func identifier(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }.map(Character.init))
    }
}
