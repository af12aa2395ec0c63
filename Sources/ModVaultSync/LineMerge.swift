/// Three-way merge of text by lines, as `git merge-file` does for load-order files: a region changed
/// on one side only takes that side, the same change on both sides is taken once, and only regions
/// both sides changed differently conflict.
public enum LineMerge {
    /// The largest file (in lines per side) merged by lines; longer ones are left to the conflict strategy.
    public static let maximumLines = 20_000

    /// The merged text, or nil when both sides changed the same lines differently (or a side is not UTF-8 text).
    public static func merge(base: [UInt8], ours: [UInt8], theirs: [UInt8]) -> [UInt8]? {
        guard let b = lines(base), let o = lines(ours), let t = lines(theirs) else { return nil }
        guard let merged = merge(base: b, ours: o, theirs: t) else { return nil }
        return Array(merged.joined().utf8)
    }

    /// Splits text into lines that keep their line ends, so joining them restores the text exactly.
    static func lines(_ bytes: [UInt8]) -> [String]? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        var out: [String] = []
        var current = ""
        for ch in text.unicodeScalars {
            current.unicodeScalars.append(ch)
            if ch == "\n" {
                out.append(current)
                current = ""
            }
        }
        if !current.isEmpty { out.append(current) }
        return out.count <= maximumLines ? out : nil
    }

    /// Merges line arrays; nil on a conflict.
    public static func merge(base: [String], ours: [String], theirs: [String]) -> [String]? {
        guard let toOurs = match(base, ours), let toTheirs = match(base, theirs) else { return nil }
        var out: [String] = []
        var bi = 0, oi = 0, ti = 0
        var anchors: [(Int, Int, Int)] = []
        for i in base.indices where toOurs[i] >= 0 && toTheirs[i] >= 0 { anchors.append((i, toOurs[i], toTheirs[i])) }
        anchors.append((base.count, ours.count, theirs.count))
        for (ba, oa, ta) in anchors {
            let b = Array(base[bi..<ba]), o = Array(ours[oi..<oa]), t = Array(theirs[ti..<ta])
            if o == t || t == b {
                out += o
            } else if o == b {
                out += t
            } else {
                return nil
            }
            if ba < base.count { out.append(base[ba]) }
            bi = ba + 1
            oi = oa + 1
            ti = ta + 1
        }
        return out
    }

    /// The most table cells a match may use (about 16 MB); a larger changed middle is left as a conflict.
    static let maximumCells = 4_000_000

    /// For each line of `a`, the index of the line of `b` a longest common subsequence pairs it with, or -1;
    /// nil when the changed middle (after the common head and tail) is too large to compare.
    static func match(_ a: [String], _ b: [String]) -> [Int]? {
        var result = [Int](repeating: -1, count: a.count)
        var head = 0
        while head < a.count, head < b.count, a[head] == b[head] {
            result[head] = head
            head += 1
        }
        var tail = 0
        while tail < a.count - head, tail < b.count - head, a[a.count - 1 - tail] == b[b.count - 1 - tail] {
            result[a.count - 1 - tail] = b.count - 1 - tail
            tail += 1
        }
        let n = a.count - head - tail, m = b.count - head - tail
        guard n > 0, m > 0 else { return result }
        guard n * m <= maximumCells else { return nil }
        // Suffix LCS lengths over the middle, row-major.
        var table = [Int32](repeating: 0, count: (n + 1) * (m + 1))
        func at(_ i: Int, _ j: Int) -> Int { i * (m + 1) + j }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                table[at(i, j)] = a[head + i] == b[head + j] ? table[at(i + 1, j + 1)] + 1 : max(table[at(i + 1, j)], table[at(i, j + 1)])
            }
        }
        var i = 0, j = 0
        while i < n && j < m {
            if a[head + i] == b[head + j] {
                result[head + i] = head + j
                i += 1
                j += 1
            } else if table[at(i + 1, j)] >= table[at(i, j + 1)] {
                i += 1
            } else {
                j += 1
            }
        }
        return result
    }
}
