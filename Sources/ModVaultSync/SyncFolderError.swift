public import ModVaultCore

/// Errors of folder sync (`FolderSync`). Each names the folder or remote concerned.
public enum SyncFolderError: ModVaultFailure {
    /// The folder was never synced and no remote was given.
    case notBound(folder: String)
    /// The folder is bound to another remote or repository.
    case boundElsewhere(folder: String, detail: String)
    /// The folder's sync state file cannot be read.
    case badState(path: String, detail: String)
    /// A line of the rules file is malformed.
    case badRules(path: String, line: Int, detail: String)
    /// The remote cannot create an object only if it is absent, so two writers could overwrite each other's pushes.
    case noCreateIfAbsent(remote: String)
    /// Applying the remote's changes would delete more than half of the folder's files.
    case massDelete(folder: String, removing: Int, of: Int)
    /// Another sync of the same folder is running.
    case busy(folder: String)
    /// `--push-only` found pushes it has not merged.
    case remoteMovedOn(remote: String, seq: UInt64)
    /// Other devices kept taking the next log entry.
    case raceLost(remote: String, attempts: Int)
    /// Another device holds the single-writer lease.
    case leaseHeld(remote: String, device: String, until: String)
    /// `resolve` named a path with no pending conflict.
    case noConflict(folder: String, path: String)
    /// `resolve --record` named a FormID that is not among the path's conflicting records.
    case noRecordConflict(folder: String, path: String, formID: String, pending: [String])

    /// The broad cause.
    public var kind: FailureKind {
        switch self {
        case .notBound, .boundElsewhere, .badRules, .noCreateIfAbsent, .massDelete, .remoteMovedOn: return .invalidInput
        case .badState: return .corrupt
        case .busy, .leaseHeld: return .locked
        case .raceLost: return .other
        case .noConflict, .noRecordConflict: return .notFound
        }
    }

    /// One line naming the cause and the folder or remote.
    public var description: String {
        switch self {
        case .notBound(let f): return "\(f) is not synced yet; give --remote NAME the first time"
        case .boundElsewhere(let f, let d): return "\(f) is bound to \(d); sync it with that, or remove \(f)/.modvault to start over"
        case .badState(let p, let d): return "\(p): unreadable sync state (\(d))"
        case .badRules(let p, let l, let d): return "\(p):\(l): \(d)"
        case .noCreateIfAbsent(let r):
            return "\(r) does not support create-if-absent writes (If-None-Match: *; 'rclone serve s3' lacks it), so two devices "
                + "pushing at once could overwrite each other; use a server that supports it, or --single-writer if only one device writes"
        case .massDelete(let f, let n, let total):
            return "applying the remote's changes would delete \(n) of the \(total) files in \(f); run again with --allow-mass-delete if that is intended"
        case .busy(let f): return "another sync of \(f) is running"
        case .remoteMovedOn(let r, let seq): return "\(r) has pushes up to #\(seq) that this folder has not merged; run sync without --push-only"
        case .raceLost(let r, let n): return "\(r): other devices took the next push log entry \(n) times in a row; try again"
        case .leaseHeld(let r, let d, let u): return "\(r): device \(d) holds the single-writer lease until \(u)"
        case .noConflict(let f, let p): return "\(f): no pending conflict at '\(p)' (see 'modvault conflicts')"
        case .noRecordConflict(let f, let p, let id, let pending):
            return pending.isEmpty
                ? "\(f): '\(p)' has no record conflicts to settle one by one; use --take ours|theirs|both"
                : "\(f): '\(p)' has no conflicting record \(id); its conflicting records are \(pending.joined(separator: ", "))"
        }
    }
}
