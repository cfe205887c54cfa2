import ArcaCore
import ArcaTestSupport
@testable import ArcaKeeperLink
import Testing

/// The response parser on hostile bytes, without a network.
@Suite struct HTTPResponseReaderTests {
    private func parse(_ bytes: [UInt8], maximumBodySize: Int = 1024, chunkSize: Int = .max) throws -> HTTPResponse {
        var reader = HTTPResponseReader(source: TrickleSource(bytes, chunk: chunkSize),
                                        limits: .init(maximumBodySize: maximumBodySize), peer: "test:1")
        return try reader.read()
    }

    private func parse(_ text: String, maximumBodySize: Int = 1024) throws -> HTTPResponse {
        try parse(Array(text.utf8), maximumBodySize: maximumBodySize)
    }

    private func code(_ text: String, maximumBodySize: Int = 1024) -> ArcaError.Code? {
        do {
            _ = try parse(text, maximumBodySize: maximumBodySize)
            return nil
        } catch let error as ArcaError {
            return error.code
        } catch {
            return ArcaError.Code(rawValue: "other")
        }
    }

    static let lengthFramed = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"reason\":\"no\"}\n"
    static let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nA\r\n0123456789\r\n0\r\n\r\n"

    @Test func parsesLengthFramedAndChunkedResponses() throws {
        let a = try parse(Self.lengthFramed)
        #expect(a.status == 403)
        #expect(a.body == Array("{\"reason\":\"no\"}\n".utf8))
        #expect(a.headers.first?.name == "content-type")
        let b = try parse(Self.chunked)
        #expect(b.status == 200 && b.body == Array("abcd0123456789".utf8))
        // Byte-at-a-time delivery gives the same result.
        #expect(try parse(Array(Self.chunked.utf8), chunkSize: 1) == b)
    }

    @Test func skipsInterimResponsesAndAcceptsBareLF() throws {
        let response = try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\nContent-Length: 2\n\nok")
        #expect(response.status == 200 && response.body == Array("ok".utf8))
        #expect(try parse("HTTP/1.1 204 No Content\r\n\r\n").body.isEmpty)
    }

    @Test func truncationAtEveryByteIsAnError() {
        for text in [Self.lengthFramed, Self.chunked] {
            let bytes = Array(text.utf8)
            for cut in 0..<bytes.count {
                #expect(throws: ArcaError.self, "cut at \(cut)") { try parse(Array(bytes[0..<cut])) }
            }
        }
    }

    @Test func flippedBitsNeverCrash() {
        for text in [Self.lengthFramed, Self.chunked] {
            let bytes = Array(text.utf8)
            for index in bytes.indices {
                for bit in [0, 3, 7] {
                    var flipped = bytes
                    flipped[index] ^= UInt8(1 << bit)
                    // Either a response (a flip in the reason phrase or body) or an ArcaError.
                    do {
                        let response = try parse(flipped)
                        #expect(response.body.count <= 1024)
                    } catch {
                        #expect(error is ArcaError)
                    }
                }
            }
        }
    }

    @Test func refusesOversizedAndOverflowingLengths() {
        #expect(code("HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n") == .limitExceeded)
        #expect(code("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n") == .limitExceeded)
        // Many small chunks adding up past the limit.
        let many = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "100\r\n" + String(repeating: "x", count: 256) + "\r\n", count: 5)
        #expect(code(many) == .limitExceeded)
    }

    @Test func refusesAmbiguousOrMissingFraming() {
        #expect(code("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == .unsupported)
        #expect(code("HTTP/1.1 200 OK\r\n\r\nbody until close") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n") == .invalidFormat)
    }

    @Test func refusesGarbageStatusAndHeaderLines() {
        for line in ["HTTP/2 200 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/1.1 099 X", "http/1.1 200 OK", "HTTP/1.1 200OK", "\u{0}\u{0}", ""] {
            #expect(code(line + "\r\nContent-Length: 0\r\n\r\n") == .invalidFormat, "\(line)")
        }
        #expect(code("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n") == .invalidFormat)
        #expect(code("HTTP/1.1 200 OK\r\nX: a\u{7}b\r\n\r\n") == .invalidFormat)
    }

    @Test func boundsLinesHeadersAndInterimResponses() {
        #expect(code("HTTP/1.1 200 " + String(repeating: "x", count: 9000) + "\r\n\r\n") == .limitExceeded)
        let manyHeaders = (0..<101).map { "X-\($0): y\r\n" }.joined()
        #expect(code("HTTP/1.1 200 OK\r\n" + manyHeaders + "Content-Length: 0\r\n\r\n") == .limitExceeded)
        let bigHeaders = (0..<20).map { "X-\($0): " + String(repeating: "y", count: 4000) + "\r\n" }.joined()
        #expect(code("HTTP/1.1 200 OK\r\n" + bigHeaders + "Content-Length: 0\r\n\r\n") == .limitExceeded)
        #expect(code(String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 10) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == .invalidFormat)
        // An endless header line without a newline stops at the limit, not at memory exhaustion.
        #expect(code("HTTP/1.1 200 OK\r\nX: " + String(repeating: "y", count: 100_000)) == .limitExceeded)
    }
}
