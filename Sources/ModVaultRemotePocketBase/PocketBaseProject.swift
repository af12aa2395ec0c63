public import Foundation
public import ModVaultCore
public import ModVaultRemoteSupport

/// What a member of a shared project may do; the server's API rules enforce it (Docs/SHARING.md).
public enum ProjectRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Lists and downloads.
    case reader
    /// Also uploads objects and appends to the push log.
    case writer
    /// Also manages members and invites, and deletes (prune).
    case admin

    /// Orders roles by what they allow.
    public static func < (a: ProjectRole, b: ProjectRole) -> Bool { a.rank < b.rank }
    private var rank: Int { self == .reader ? 0 : self == .writer ? 1 : 2 }
}

/// One row of a project's members collection.
public struct ProjectMember: Sendable, Equatable, Codable {
    /// The membership record's ID.
    public var id: String
    /// The member's account ID in the auth collection.
    public var userID: String
    /// The account's email, as the member's own account reported it.
    public var email: String
    /// The role the server recorded.
    public var role: ProjectRole
    /// Device names the member has synced or watched from.
    public var devices: [String]
    /// When the membership was created.
    public var joined: Date?
    /// The member's last heartbeat.
    public var lastSeen: Date?
    /// The member's X25519 public key (base64), for key rotation.
    public var publicKey: String?

    /// True when the last heartbeat is more recent than `timeout` seconds.
    public func isOnline(now: Date = Date(), timeout: TimeInterval = PocketBaseProject.onlineTimeout) -> Bool {
        guard let lastSeen else { return false }
        return now.timeIntervalSince(lastSeen) <= timeout
    }
}

/// One invite of a project, as admins see it (the secret is never stored, only its bcrypt hash).
public struct ProjectInvite: Sendable, Equatable, Codable {
    /// The invite's record ID, which the code carries.
    public var id: String
    /// The role a redeemer gets.
    public var role: ProjectRole
    /// When the invite stops working.
    public var expires: Date
    /// True once redeemed.
    public var used: Bool
    /// When it was created.
    public var created: Date?
}

/// What redeeming an invite returns: the server-recorded role and the sealed key slot the invite carried.
public struct RedeemedInvite: Sendable, Equatable {
    /// The role the server recorded for the invite.
    public var role: ProjectRole
    /// The invite's key slot (opened with the code's secret by the caller).
    public var slot: String
    /// The new membership.
    public var member: ProjectMember
}

/// Names and rules of the collections that make one PocketBase collection a shared project.
public enum PocketBaseProject {
    /// Seconds after the last heartbeat that a member still counts as online.
    public static let onlineTimeout: TimeInterval = 60
    /// The domain of invite identities' emails (`<invite id>@…`): `.invalid` never receives mail.
    public static let inviteEmailDomain = "invites.modvault.invalid"

    /// The members collection of project `collection`.
    public static func members(_ collection: String) -> String { collection + "_members" }
    /// The invites (auth) collection of project `collection`.
    public static func invites(_ collection: String) -> String { collection + "_invites" }

    /// A rule admitting accounts of `auth` that are members of `collection` with one of `roles`. Both
    /// conditions name the same join, which PocketBase resolves row by row, so a reader never passes
    /// a writer rule because some other row says "writer" (the raw-request tests check it).
    static func role(_ roles: [ProjectRole], collection: String, auth: String) -> String {
        let m = members(collection)
        let alternatives = roles.map { "@collection.\(m).role ?= '\($0.rawValue)'" }.joined(separator: " || ")
        return "@request.auth.collectionName = '\(auth)' && @collection.\(m).user ?= @request.auth.id && (\(alternatives))"
    }

    /// The three collection definitions `createProject` posts, in creation order (each rule may only
    /// name collections that exist already).
    public static func definitions(collection c: String, authCollectionID: String, authCollection auth: String,
                                   maxFileSize: Int64) -> [[String: any Sendable]] {
        let m = members(c), i = invites(c)
        let member = role([.reader, .writer, .admin], collection: c, auth: auth)
        let writer = role([.writer, .admin], collection: c, auth: auth)
        let admin = role([.admin], collection: c, auth: auth)
        let roleField: [String: any Sendable] = ["name": "role", "type": "select", "values": ProjectRole.allCases.map(\.rawValue),
                                                  "maxSelect": 1, "required": true]
        let created: [String: any Sendable] = ["name": "created", "type": "autodate", "onCreate": true, "onUpdate": false]
        // An invite identity may create exactly one membership: its own ID, its recorded role, before
        // expiry and before use; the unique index on `invite` makes a second one fail.
        let byInvite = "@request.auth.collectionName = '\(i)' && @request.body.invite = @request.auth.id"
            + " && @request.body.role = @request.auth.role && @request.auth.used = false && @request.auth.expires > @now"
        // A member may update only their own row's email (to their account's), devices, heartbeat and key.
        let bySelf = "@request.auth.collectionName = '\(auth)' && user = @request.auth.id && @request.body.role:isset = false"
            + " && @request.body.user:isset = false && @request.body.invite:isset = false"
            + " && (@request.body.email:isset = false || @request.body.email = @request.auth.email)"
        let membersCollection: [String: any Sendable] = [
            "name": m, "type": "base",
            "fields": [
                ["name": "user", "type": "relation", "collectionId": authCollectionID, "maxSelect": 1, "required": true, "cascadeDelete": true],
                roleField,
                ["name": "email", "type": "text", "max": 320],
                ["name": "invite", "type": "text", "max": 40],
                ["name": "devices", "type": "text", "max": 4000],
                ["name": "last_seen", "type": "date"],
                ["name": "public_key", "type": "text", "max": 200],
                created,
            ] as [[String: any Sendable]],
            "indexes": ["CREATE UNIQUE INDEX idx_\(m)_user ON \(m) (user)",
                        "CREATE UNIQUE INDEX idx_\(m)_invite ON \(m) (invite) WHERE invite != ''"],
            "listRule": member, "viewRule": member,
            "createRule": "(\(admin)) || (\(byInvite))",
            "updateRule": "(\(admin)) || (\(bySelf))",
            "deleteRule": admin,
        ]
        // The invite may only mark itself used and drop its key slot; it cannot change role or expiry.
        let inviteSelf = "@request.auth.id = id && @request.body.used = true && @request.body.slot = ''"
            + " && @request.body.role:isset = false && @request.body.expires:isset = false"
            + " && @request.body.email:isset = false && @request.body.password:isset = false"
        let invitesCollection: [String: any Sendable] = [
            "name": i, "type": "auth",
            "fields": [
                roleField,
                ["name": "expires", "type": "date", "required": true],
                ["name": "used", "type": "bool"],
                ["name": "slot", "type": "text", "max": 4000],
                ["name": "created_by", "type": "text", "max": 320],
                created,
            ] as [[String: any Sendable]],
            "passwordAuth": ["enabled": true, "identityFields": ["email"]] as [String: any Sendable],
            // The server refuses to sign in an expired invite at all.
            "authRule": "expires > @now",
            "listRule": admin, "viewRule": "(\(admin)) || @request.auth.id = id", "createRule": admin,
            "updateRule": "(\(admin)) || (\(inviteSelf))", "deleteRule": admin,
        ]
        // Key slots (kind `keys`) carry their owner: each member sees and removes only their own,
        // admins all of them.
        let ownKey = "kind = 'keys' && owner = @request.auth.id"
        let objects: [String: any Sendable] = [
            "name": c, "type": "base",
            "fields": [
                ["name": "kind", "type": "text", "required": true, "max": 16, "pattern": "^[a-z]+$"],
                ["name": "name", "type": "text", "required": true, "max": 200, "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]*$"],
                ["name": "size", "type": "number", "onlyInt": true, "min": 0],
                ["name": "owner", "type": "text", "max": 64],
                ["name": "file", "type": "file", "required": true, "maxSelect": 1, "maxSize": maxFileSize,
                 "protected": true, "mimeTypes": [String]()],
            ] as [[String: any Sendable]],
            "indexes": ["CREATE UNIQUE INDEX idx_\(c)_kind_name ON \(c) (kind, name)"],
            "listRule": "\(member) && (kind != 'keys' || owner = @request.auth.id || @collection.\(m).role ?= 'admin')",
            "viewRule": "\(member) && (kind != 'keys' || owner = @request.auth.id || @collection.\(m).role ?= 'admin')",
            "createRule": "(\(writer) && kind != 'keys') || (\(member) && kind = 'keys' && @request.body.owner = @request.auth.id) || (\(admin))",
            "updateRule": admin,
            "deleteRule": "(\(admin)) || (\(member) && \(ownKey))",
        ]
        return [membersCollection, invitesCollection, objects]
    }

    /// A fresh PocketBase record ID: 15 characters of `a-z0-9`, as the server makes them.
    public static func newRecordID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var out: [UInt8] = []
        while out.count < 15 {
            let byte = UInt8.random(in: 0...255)
            // Rejection sampling keeps every character equally likely.
            if byte < 252 { out.append(alphabet[Int(byte) % 36]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// PocketBase's date text (`2026-12-05 06:41:33.000Z`) and ISO 8601, or nil.
    public static func parseDate(_ text: String) -> Date? {
        guard !text.isEmpty else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd HH:mm:ss.SSS'Z'", "yyyy-MM-dd HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "yyyy-MM-dd'T'HH:mm:ss'Z'"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    /// A date as PocketBase stores it.
    public static func formatDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS'Z'"
        return formatter.string(from: date)
    }
}

extension PocketBaseRemote {
    private var membersPath: String { "/api/collections/\(HTTPSupport.percentEncode(PocketBaseProject.members(address.collection)))/records" }
    private var invitesPath: String { "/api/collections/\(HTTPSupport.percentEncode(PocketBaseProject.invites(address.collection)))" }

    // MARK: Creation

    /// Creates the project: members, invites and objects collections with role-enforcing API rules,
    /// signing in as a superuser for this one call. `admins` (emails; by default the account this
    /// remote signs in with) become its first admins. Throws `.alreadyExists` when the objects
    /// collection exists.
    public func createProject(superuserEmail: String, password: String, admins: [String]? = nil) async throws {
        let token = try await signIn(collection: "_superusers", email: superuserEmail, password: password, what: "superuser")
        var emails = admins ?? []
        if admins == nil, case .password(let email, _) = credentials { emails = [email] }
        guard !emails.isEmpty else {
            throw RemoteError(.invalidConfiguration, location: location,
                              detail: "name the project's first admins, or sign in with POCKETBASE_EMAIL")
        }
        var ids: [(id: String, email: String)] = []
        for email in emails { ids.append((try await userID(email: email, superuserToken: token), email)) }
        let authID = try await collectionID(options.authCollection, superuserToken: token)
        let headers = [("Authorization", token), ("Content-Type", "application/json")]
        let definitions = PocketBaseProject.definitions(collection: address.collection, authCollectionID: authID,
                                                        authCollection: options.authCollection, maxFileSize: options.maxFileSize)
        for definition in definitions {
            let body = try JSONSerialization.data(withJSONObject: definition, options: [.sortedKeys])
            let response = try await send("POST", path: "/api/collections", headers: headers, body: [UInt8](body), object: nil)
            guard response.status == 200 else {
                if response.status == 400, fieldErrorCodes(response)["name"]?.contains("exists") == true {
                    throw RemoteError(.alreadyExists, location: location, detail: "collection \(definition["name"] as? String ?? "") exists")
                }
                throw failure(response, object: nil)
            }
        }
        for (id, email) in ids {
            let body = try JSONSerialization.data(withJSONObject: ["user": id, "role": "admin", "email": email])
            let response = try await send("POST", path: membersPath, headers: headers, body: [UInt8](body), object: nil)
            guard response.status == 200 else { throw failure(response, object: nil) }
        }
        try await waitUntilServed(superuserToken: token)
    }

    private func collectionID(_ name: String, superuserToken token: String) async throws -> String {
        let response = try await send("GET", path: "/api/collections/\(HTTPSupport.percentEncode(name))",
                                      headers: [("Authorization", token)], object: nil)
        guard response.status == 200, let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let id = json["id"] as? String else {
            throw RemoteError(.invalidConfiguration, location: location, detail: "auth collection '\(name)' not found")
        }
        return id
    }

    // MARK: The signed-in account

    /// The signed-in account's record ID and email (from `auth-refresh`).
    public func currentUser() async throws -> (id: String, email: String) {
        let response = try await authorized("POST", path: "/api/collections/\(HTTPSupport.percentEncode(options.authCollection))/auth-refresh",
                                            object: nil)
        guard response.status == 200, let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let record = json["record"] as? [String: Any], let id = record["id"] as? String else {
            throw failure(response, object: nil)
        }
        return (id, record["email"] as? String ?? "")
    }

    /// The signed-in account's membership, or nil when it is not a member (or the collection is not a project).
    public func myMembership() async throws -> ProjectMember? {
        let me = try await currentUser()
        return try await memberRecords(filter: "user='\(me.id)'").first
    }

    // MARK: Members

    /// Every member, oldest first. Readers may list; a non-member gets an empty list from the server.
    public func members() async throws -> [ProjectMember] {
        try await memberRecords(filter: nil)
    }

    private func memberRecords(filter: String?) async throws -> [ProjectMember] {
        var out: [ProjectMember] = []
        var page = 1
        while true {
            var query = [("perPage", "200"), ("page", String(page)), ("sort", "created,id"), ("skipTotal", "1")]
            if let filter { query.append(("filter", filter)) }
            let response = try await authorized("GET", path: membersPath, query: query, object: nil)
            guard response.status == 200 else { throw projectFailure(response) }
            let items = try records(response)
            out += items.compactMap(Self.member)
            if items.count < 200 { return out }
            page += 1
        }
    }

    static func member(_ r: [String: Any]) -> ProjectMember? {
        guard let id = r["id"] as? String, let user = r["user"] as? String,
              let role = ProjectRole(rawValue: r["role"] as? String ?? "") else { return nil }
        let devices = (r["devices"] as? String ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        let key = r["public_key"] as? String ?? ""
        return ProjectMember(id: id, userID: user, email: r["email"] as? String ?? "", role: role, devices: devices,
                             joined: PocketBaseProject.parseDate(r["created"] as? String ?? ""),
                             lastSeen: PocketBaseProject.parseDate(r["last_seen"] as? String ?? ""),
                             publicKey: key.isEmpty ? nil : key)
    }

    /// Records the signed-in member's heartbeat: `last_seen` now, `device` added to their devices,
    /// their email and (when given) their public key. The server lets members update only these
    /// fields of their own row. Returns the updated row, or nil when the account is not a member.
    @discardableResult
    public func heartbeat(device: String, publicKey: String? = nil) async throws -> ProjectMember? {
        let me = try await currentUser()
        guard let row = try await memberRecords(filter: "user='\(me.id)'").first else { return nil }
        var devices = row.devices
        let clean = device.replacingOccurrences(of: ",", with: " ")
        if !clean.isEmpty, !devices.contains(clean) { devices.append(clean) }
        var body: [String: Any] = ["last_seen": PocketBaseProject.formatDate(Date()), "devices": devices.suffix(20).joined(separator: ",")]
        if !me.email.isEmpty { body["email"] = me.email }
        if let publicKey { body["public_key"] = publicKey }
        let response = try await authorized("PATCH", path: membersPath + "/" + row.id, headers: [("Content-Type", "application/json")],
                                            body: [UInt8](try JSONSerialization.data(withJSONObject: body)), object: nil)
        guard response.status == 200 else { throw projectFailure(response) }
        return Self.member(try record(response))
    }

    /// Deletes the membership of `email` (admins only) and every key slot it owns. Returns the removed row.
    public func removeMember(email: String) async throws -> ProjectMember {
        let quoted = email.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        guard let row = try await memberRecords(filter: "email='\(quoted)'").first else {
            throw RemoteError(.notFound, location: location, detail: "no member \(email)")
        }
        // Key slots first: once the row is gone the member's own rules no longer admit them anyway.
        for key in try await ownedKeySlots(userID: row.userID) { try await remove(key) }
        let response = try await authorized("DELETE", path: membersPath + "/" + row.id, object: nil)
        guard response.status == 204 || response.status == 200 else { throw projectFailure(response) }
        return row
    }

    /// Names of key slots (`keys/…`) owned by `userID` (all of them are visible to admins only).
    public func ownedKeySlots(userID: String) async throws -> [ObjectName] {
        guard PocketBaseRemote.isRecordID(userID) else { return [] }
        let response = try await authorized("GET", path: recordsPath,
                                            query: [("filter", "kind='keys' && owner='\(userID)'"), ("perPage", "500"), ("fields", "name")],
                                            object: nil)
        guard response.status == 200 else { throw projectFailure(response) }
        return try records(response).compactMap { ($0["name"] as? String).map { ObjectName(kind: .key, name: $0) } }
    }

    /// Stores a key grant (`keys/<random id>`) owned by member `userID`, so only they and admins see
    /// it (admins only: the rules let others create key objects for themselves alone).
    @discardableResult
    public func saveGrant(_ bytes: [UInt8], for userID: String) async throws -> ObjectName {
        let name = ObjectName(kind: .key, name: Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255) }))
        let (contentType, head, tail) = multipart(fields: [("kind", name.kind.rawValue), ("name", name.name), ("size", String(bytes.count)),
                                                           ("owner", userID)], fileName: name.name)
        let response = try await authorized("POST", path: recordsPath, headers: [("Content-Type", contentType)], body: head + bytes + tail,
                                            object: name.relativePath)
        guard response.status == 200 else { throw projectFailure(response, what: "sealing the new key to a member needs the admin role") }
        return name
    }

    // MARK: Invites

    /// Creates an invite (admins only) whose identity signs in with `secret`; the server keeps only
    /// its bcrypt hash, the role, the expiry and `slot`. `id` must be a fresh record ID.
    public func createInvite(id: String, secret: String, role: ProjectRole, expires: Date, slot: String) async throws -> ProjectInvite {
        guard PocketBaseRemote.isRecordID(id), id.count == 15 else {
            throw RemoteError(.invalidName, location: location, detail: "invite ID \(id) is not a 15-character record ID")
        }
        let me = try await currentUser()
        let body: [String: Any] = [
            "id": id, "email": "\(id)@\(PocketBaseProject.inviteEmailDomain)", "password": secret, "passwordConfirm": secret,
            "role": role.rawValue, "expires": PocketBaseProject.formatDate(expires), "used": false, "slot": slot, "created_by": me.email,
        ]
        let response = try await authorized("POST", path: invitesPath + "/records", headers: [("Content-Type", "application/json")],
                                            body: [UInt8](try JSONSerialization.data(withJSONObject: body)), object: nil)
        guard response.status == 200 else { throw projectFailure(response, what: "creating an invite needs the admin role") }
        guard let invite = Self.invite(try record(response)) else {
            throw RemoteError(.unexpectedResponse, location: location, detail: "unreadable invite record")
        }
        return invite
    }

    /// Every invite, newest first (admins only).
    public func invites() async throws -> [ProjectInvite] {
        let response = try await authorized("GET", path: invitesPath + "/records",
                                            query: [("perPage", "500"), ("sort", "-created,id"), ("skipTotal", "1")], object: nil)
        guard response.status == 200 else { throw projectFailure(response) }
        return try records(response).compactMap(Self.invite)
    }

    static func invite(_ r: [String: Any]) -> ProjectInvite? {
        guard let id = r["id"] as? String, let role = ProjectRole(rawValue: r["role"] as? String ?? ""),
              let expires = PocketBaseProject.parseDate(r["expires"] as? String ?? "") else { return nil }
        return ProjectInvite(id: id, role: role, expires: expires, used: r["used"] as? Bool ?? false,
                             created: PocketBaseProject.parseDate(r["created"] as? String ?? ""))
    }

    /// Deletes an invite (admins only); its code stops working at once.
    public func revokeInvite(id: String) async throws {
        guard PocketBaseRemote.isRecordID(id) else { throw RemoteError(.notFound, location: location, detail: "no invite \(id)") }
        let response = try await authorized("DELETE", path: invitesPath + "/records/" + id, object: nil)
        if response.status == 404 { throw RemoteError(.notFound, location: location, detail: "no invite \(id) (or you are not an admin)") }
        guard response.status == 204 || response.status == 200 else { throw projectFailure(response) }
    }

    /// Redeems invite `id` with `secret` for the signed-in account: signs in as the invite, creates
    /// the membership with the role the server recorded, then marks the invite used and drops its key
    /// slot. A used, expired, revoked or wrong code fails with `.accessDenied` saying which.
    public func redeemInvite(id: String, secret: String, expires: Date) async throws -> RedeemedInvite {
        let me = try await currentUser()
        guard PocketBaseRemote.isRecordID(id) else { throw RemoteError(.accessDenied, location: location, detail: "malformed invite ID") }
        let body = try JSONSerialization.data(withJSONObject: ["identity": "\(id)@\(PocketBaseProject.inviteEmailDomain)", "password": secret])
        let signIn = try await send("POST", path: invitesPath + "/auth-with-password", headers: [("Content-Type", "application/json")],
                                    body: [UInt8](body), object: nil)
        guard signIn.status == 200 else {
            if signIn.status >= 500 { throw failure(signIn, object: nil) }
            // The server refuses an expired invite (auth rule) and an unknown one alike; the code's own
            // expiry tells the two apart.
            if signIn.status == 403 || expires < Date() {
                throw RemoteError(.accessDenied, location: location, detail: "invite \(id) expired at \(PocketBaseProject.formatDate(expires))",
                                  status: signIn.status)
            }
            throw RemoteError(.accessDenied, location: location,
                              detail: "invite \(id) was revoked, or the code is wrong (the server does not know this invite and secret)",
                              status: signIn.status)
        }
        let inviteToken = try token(in: signIn)
        let inviteRecord = (try? JSONSerialization.jsonObject(with: Data(signIn.body)) as? [String: Any])?["record"] as? [String: Any] ?? [:]
        guard let invite = Self.invite(inviteRecord) else {
            throw RemoteError(.unexpectedResponse, location: location, detail: "unreadable invite record")
        }
        if invite.used {
            throw RemoteError(.accessDenied, location: location, detail: "invite \(id) was already used")
        }
        let slot = inviteRecord["slot"] as? String ?? ""
        let membership = try JSONSerialization.data(withJSONObject: ["user": me.id, "role": invite.role.rawValue, "invite": id])
        let created = try await send("POST", path: membersPath, headers: [("Authorization", inviteToken), ("Content-Type", "application/json")],
                                     body: [UInt8](membership), object: nil)
        guard created.status == 200 else {
            let codes = fieldErrorCodes(created)
            if codes["invite"] == "validation_not_unique" {
                throw RemoteError(.accessDenied, location: location, detail: "invite \(id) was already used", status: created.status)
            }
            if codes["user"] == "validation_not_unique" {
                throw RemoteError(.alreadyExists, location: location, detail: "\(me.email) is already a member", status: created.status)
            }
            throw failure(created, object: nil)
        }
        guard let member = Self.member(try record(created)) else {
            throw RemoteError(.unexpectedResponse, location: location, detail: "unreadable membership record")
        }
        // The membership exists and its unique index already stops a second use; a failed mark only
        // leaves the sealed slot behind until an admin revokes the invite, so its answer is not checked.
        let used = try JSONSerialization.data(withJSONObject: ["used": true, "slot": ""])
        _ = try await send("PATCH", path: invitesPath + "/records/" + id,
                           headers: [("Authorization", inviteToken), ("Content-Type", "application/json")], body: [UInt8](used), object: nil)
        return RedeemedInvite(role: invite.role, slot: slot, member: member)
    }

    // MARK: Helpers

    private func records(_ response: HTTPResponse) throws -> [[String: Any]] {
        guard let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let items = json["items"] as? [[String: Any]] else {
            throw RemoteError(.unexpectedResponse, location: location, detail: "unreadable record list")
        }
        return items
    }

    private func record(_ response: HTTPResponse) throws -> [String: Any] {
        guard let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw RemoteError(.unexpectedResponse, location: location, detail: "unreadable record")
        }
        return json
    }

    /// A failed project call; PocketBase answers a rule that does not admit the caller with 400/403/404.
    private func projectFailure(_ response: HTTPResponse, what: String? = nil) -> RemoteError {
        let base = failure(response, object: nil)
        if response.status == 404, base.reason == .containerMissing {
            return RemoteError(.containerMissing, location: location,
                               detail: "\(address.collection) is not a shared project (no \(PocketBaseProject.members(address.collection)) collection); create it with 'modvault remote init'",
                               status: 404)
        }
        if [400, 403, 404].contains(response.status), let what {
            return RemoteError(.accessDenied, location: location, detail: "\(what) (server: \(base.detail ?? "\(response.status)"))",
                               status: response.status)
        }
        return base
    }
}
