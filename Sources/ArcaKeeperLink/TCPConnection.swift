import ArcaCore

#if canImport(Glibc)
import Glibc
private let streamSocket = Int32(SOCK_STREAM.rawValue)
private let socketFlags = Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
#elseif canImport(Musl)
import Musl
private let streamSocket = SOCK_STREAM
private let socketFlags = SOCK_CLOEXEC | SOCK_NONBLOCK
#endif

/// A non-blocking TCP socket to the keeper. Every wait goes through `poll` with a timeout, and
/// sends use `MSG_NOSIGNAL`, so a peer that vanishes yields an error, never a SIGPIPE (which
/// PID 1's signal loop would otherwise see and forward).
final class TCPConnection {
    let fd: Int32
    let address: KeeperAddress
    private let ioTimeout: Double

    private init(fd: Int32, address: KeeperAddress, ioTimeout: Double) {
        self.fd = fd
        self.address = address
        self.ioTimeout = ioTimeout
    }

    deinit { close(fd) }

    /// Resolves `address` and connects to the first of its addresses that answers within `timeout` seconds.
    static func connect(to address: KeeperAddress, timeout: Double, ioTimeout: Double) throws -> TCPConnection {
        let deadline = Deadline(secondsFromNow: timeout)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamSocket
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status))
            throw ArcaError(.keeperUnreachable, "the keeper at \(address) is unreachable: cannot resolve \(address.host): \(reason)")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, streamSocket | socketFlags, 0)
            guard fd >= 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            let connection = TCPConnection(fd: fd, address: address, ioTimeout: ioTimeout)
            // No Nagle: the TLS client Finished and the first request leave in separate sends, and
            // with Nagle the request waited for the keeper's (delayed, ~40 ms) ACK of the Finished.
            var noDelay: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
            if systemConnect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return connection }
            guard errno == EINPROGRESS || errno == EINTR else {
                lastError = String(cString: strerror(errno))
                continue
            }
            guard try connection.wait(for: Int16(POLLOUT), deadline: deadline, cap: timeout) else {
                lastError = "no answer within \(formatSeconds(timeout))"
                continue
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            if error == 0 { return connection }
            lastError = String(cString: strerror(error))
        }
        throw ArcaError(.keeperUnreachable, "the keeper at \(address) is unreachable: \(lastError.lowercased())")
    }

    /// Sends all of `bytes`.
    func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = systemSend(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if sent > 0 {
                offset += sent
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                guard try wait(for: Int16(POLLOUT), deadline: deadline, cap: ioTimeout) else {
                    throw timedOut("sending to")
                }
            } else {
                throw ArcaError(.io, "cannot send to the keeper at \(address): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Receives up to `buffer.count` bytes; 0 means the peer closed the connection.
    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int {
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { return count }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                throw ArcaError(.io, "cannot receive from the keeper at \(address): \(String(cString: strerror(errno)))")
            }
            guard try wait(for: Int16(POLLIN), deadline: deadline, cap: ioTimeout) else {
                throw timedOut("waiting for")
            }
        }
    }

    /// Waits until the socket is ready for `events`; false when the deadline or `cap` seconds pass first.
    private func wait(for events: Int16, deadline: Deadline, cap: Double) throws -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let timeout = deadline.pollTimeout(cap: cap)
            let ready = poll(&entry, 1, timeout)
            if ready > 0 { return true }
            if ready == 0 { return false }
            guard errno == EINTR else {
                throw ArcaError(.io, "poll on the connection to the keeper at \(address) failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func timedOut(_ action: String) -> ArcaError {
        ArcaError(.io, "timed out \(action) the keeper at \(address) (\(formatSeconds(ioTimeout)) per wait, within the request's deadline)")
    }
}

// File-scope names for the C calls that the methods above shadow.
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}

private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ flags: Int32) -> Int {
    send(fd, bytes, count, flags)
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
