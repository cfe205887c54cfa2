import ArcaCore
import SwiftASN1

/// Small helpers over SwiftASN1 nodes for the X.509 subset TEE vendors use. Every failure is an
/// `ArcaError(.invalidFormat)` naming the structure, never a crash.
enum DERNode {
    static func parse(_ bytes: some Collection<UInt8>, _ what: String) throws -> ASN1Node {
        do { return try DER.parse(Array(bytes)) } catch {
            throw ArcaError(.invalidFormat, "\(what) is not valid DER", cause: error)
        }
    }

    static func children(_ node: ASN1Node, _ what: String, identifier: ASN1Identifier = .sequence) throws -> [ASN1Node] {
        guard node.identifier == identifier, case .constructed(let nodes) = node.content else {
            throw ArcaError(.invalidFormat, "\(what) is not a \(identifier == .sequence ? "sequence" : "\(identifier)")")
        }
        return Array(nodes)
    }

    static func primitive(_ node: ASN1Node, _ identifier: ASN1Identifier, _ what: String) throws -> ArraySlice<UInt8> {
        guard node.identifier == identifier, case .primitive(let bytes) = node.content else {
            throw ArcaError(.invalidFormat, "\(what) has the wrong ASN.1 type \(node.identifier)")
        }
        return bytes
    }

    static func oid(_ node: ASN1Node, _ what: String) throws -> ASN1ObjectIdentifier {
        do { return try ASN1ObjectIdentifier(derEncoded: node) } catch {
            throw ArcaError(.invalidFormat, "\(what) is not an object identifier", cause: error)
        }
    }

    /// An INTEGER's magnitude without leading zero bytes (serial numbers compare this way).
    static func integerBytes(_ node: ASN1Node, _ what: String) throws -> [UInt8] {
        let raw = try primitive(node, .integer, what)
        let trimmed = raw.drop(while: { $0 == 0 })
        return Array(trimmed)
    }

    /// A small non-negative INTEGER (SVNs, salt lengths).
    static func smallInteger(_ node: ASN1Node, _ what: String, identifier: ASN1Identifier = .integer) throws -> Int {
        let raw = try primitive(node, identifier, what)
        guard !raw.isEmpty, raw.count <= 8, raw.first! & 0x80 == 0 else {
            throw ArcaError(.invalidFormat, "\(what) is not a small non-negative integer")
        }
        return raw.reduce(0) { $0 << 8 | Int($1) }
    }

    static func time(_ node: ASN1Node, _ what: String) throws -> Int64 {
        do {
            if node.identifier == .utcTime {
                let t = try UTCTime(derEncoded: node)
                return AttestationTime.epochSeconds(year: t.year, month: t.month, day: t.day,
                                                    hour: t.hours, minute: t.minutes, second: t.seconds)
            }
            if node.identifier == .generalizedTime {
                let t = try GeneralizedTime(derEncoded: node)
                return AttestationTime.epochSeconds(year: t.year, month: t.month, day: t.day,
                                                    hour: t.hours, minute: t.minutes, second: t.seconds)
            }
        } catch {
            throw ArcaError(.invalidFormat, "\(what) is not a valid time", cause: error)
        }
        throw ArcaError(.invalidFormat, "\(what) is not a UTCTime or GeneralizedTime")
    }

    /// The first CN in a Name, for messages; empty when there is none.
    static func commonName(_ name: ASN1Node) -> String {
        guard case .constructed(let rdns) = name.content else { return "" }
        for rdn in rdns {
            guard case .constructed(let attributes) = rdn.content else { continue }
            for attribute in attributes {
                guard case .constructed(let pair) = attribute.content else { continue }
                let parts = Array(pair)
                guard parts.count == 2, let oid = try? ASN1ObjectIdentifier(derEncoded: parts[0]),
                      oid == [2, 5, 4, 3], case .primitive(let value) = parts[1].content else { continue }
                return String(decoding: value, as: UTF8.self)
            }
        }
        return ""
    }
}
