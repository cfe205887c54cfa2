/// Timeouts and size limits of the keeper link.
public struct KeeperLinkOptions: Sendable {
    /// Seconds to establish the TCP connection (per resolved address).
    public var connectTimeout: Double
    /// Seconds any single wait for the socket may take (a stalled keeper).
    public var ioTimeout: Double
    /// Seconds one whole request may take, handshake to last body byte (a trickling keeper).
    public var requestTimeout: Double
    /// The largest request or response body, in bytes.
    public var maximumBodySize: Int

    public init(connectTimeout: Double = 10, ioTimeout: Double = 30, requestTimeout: Double = 60,
                maximumBodySize: Int = 4 * 1024 * 1024) {
        self.connectTimeout = connectTimeout
        self.ioTimeout = ioTimeout
        self.requestTimeout = requestTimeout
        self.maximumBodySize = maximumBodySize
    }
}
