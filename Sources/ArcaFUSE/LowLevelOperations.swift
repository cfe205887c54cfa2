import CFuse

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What every callback needs: the operations and the options. Passed to libfuse as the session's
/// user data (unretained; `FUSEMount` keeps it alive as long as the session exists).
final class SessionContext: Sendable {
    let operations: any FileSystemOperations
    let options: MountOptions

    init(operations: any FileSystemOperations, options: MountOptions) {
        self.operations = operations
        self.options = options
    }
}

/// The libfuse low-level callback table: each callback unwraps the context, calls the Swift
/// operation synchronously on the libfuse worker thread, and replies exactly once.
enum LowLevelOperations {
    /// The callbacks; the changing ones only for `WritableFileSystemOperations` (a read-only file
    /// system keeps libfuse's own answers, e.g. ENOSYS for flush, which the kernel then skips).
    static func table(writable: Bool) -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let userdata, let conn else { return }
            let context = Unmanaged<SessionContext>.fromOpaque(userdata).takeUnretainedValue()
            configure(conn, context.options)
        }
        ops.lookup = { req, parent, name in
            guard let name else { return reply(req, FUSEError.invalid) }
            let context = sessionContext(req)
            do {
                let bytes = UnsafeRawBufferPointer(start: name, count: strlen(name))
                let attributes = try context.operations.lookup(parent: UInt64(parent), name: bytes)
                var entry = entryParameters(attributes, context.options)
                fuse_reply_entry(req, &entry)
            } catch let error as FUSEError where error == .noEntry && context.options.negativeTimeout > 0 {
                var entry = fuse_entry_param()  // inode 0: the kernel keeps "no such name" for the timeout
                entry.entry_timeout = context.options.negativeTimeout
                fuse_reply_entry(req, &entry)
            } catch { reply(req, error) }
        }
        ops.forget = { req, _, _ in fuse_reply_none(req) }  // inodes are static: nothing to count
        ops.forget_multi = { req, _, _ in fuse_reply_none(req) }
        ops.getattr = { req, inode, _ in
            let context = sessionContext(req)
            do {
                var info = statBuffer(try context.operations.attributes(inode: UInt64(inode)))
                fuse_reply_attr(req, &info, context.options.attributeTimeout)
            } catch { reply(req, error) }
        }
        ops.readlink = { req, inode in
            do {
                let target = try sessionContext(req).operations.readLink(inode: UInt64(inode))
                withCString(target) { _ = fuse_reply_readlink(req, $0) }
            } catch { reply(req, error) }
        }
        ops.open = { req, inode, info in
            guard let info else { return reply(req, FUSEError.invalid) }
            let context = sessionContext(req)
            do {
                info.pointee.fh = try context.operations.open(inode: UInt64(inode), flags: info.pointee.flags)
                arca_fuse_set_keep_cache(info, context.options.keepCache ? 1 : 0)
                if fuse_reply_open(req, info) != 0 {  // the opener was interrupted: nobody will release
                    context.operations.release(inode: UInt64(inode), handle: info.pointee.fh)
                }
            } catch { reply(req, error) }
        }
        ops.read = { req, inode, size, offset, info in
            guard let info, offset >= 0 else { return reply(req, FUSEError.invalid) }
            do {
                try sessionContext(req).operations.read(inode: UInt64(inode), handle: info.pointee.fh, offset: UInt64(offset), size: size) { pieces in
                    withUnsafeTemporaryAllocation(of: iovec.self, capacity: max(pieces.count, 1)) { vector in
                        for (index, piece) in pieces.enumerated() {
                            vector[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: piece.baseAddress), iov_len: piece.count)
                        }
                        _ = fuse_reply_iov(req, vector.baseAddress, Int32(pieces.count))
                    }
                }
            } catch { reply(req, error) }
        }
        ops.release = { req, inode, info in
            if let info { sessionContext(req).operations.release(inode: UInt64(inode), handle: info.pointee.fh) }
            fuse_reply_err(req, 0)
        }
        ops.opendir = { req, inode, info in
            guard let info else { return reply(req, FUSEError.invalid) }
            let context = sessionContext(req)
            do {
                try context.operations.openDirectory(inode: UInt64(inode))
                info.pointee.fh = 0
                arca_fuse_set_keep_cache(info, context.options.keepCache ? 1 : 0)
                arca_fuse_set_cache_readdir(info, context.options.keepCache && context.options.cacheDirectories ? 1 : 0)
                fuse_reply_open(req, info)
            } catch { reply(req, error) }
        }
        ops.releasedir = { req, _, _ in fuse_reply_err(req, 0) }
        ops.readdir = { req, inode, size, offset, _ in readDirectory(req, inode, size, offset, plus: false) }
        ops.readdirplus = { req, inode, size, offset, _ in readDirectory(req, inode, size, offset, plus: true) }
        ops.getxattr = { req, inode, name, size in
            guard let name else { return reply(req, FUSEError.invalid) }
            do {
                let value = try sessionContext(req).operations.extendedAttribute(
                    inode: UInt64(inode), name: UnsafeRawBufferPointer(start: name, count: strlen(name)))
                replySized(req, value, size)
            } catch { reply(req, error) }
        }
        ops.listxattr = { req, inode, size in
            do {
                var list: [UInt8] = []
                for name in try sessionContext(req).operations.extendedAttributeNames(inode: UInt64(inode)) {
                    list += name
                    list.append(0)
                }
                replySized(req, list, size)
            } catch { reply(req, error) }
        }
        ops.statfs = { req, _ in
            do {
                let stats = try sessionContext(req).operations.statistics()
                var info = statvfs()
                info.f_bsize = UInt(stats.blockSize)
                info.f_frsize = UInt(stats.blockSize)
                info.f_blocks = numericCast(stats.blocks)
                info.f_bfree = numericCast(stats.freeBlocks)
                info.f_bavail = numericCast(stats.freeBlocks)
                info.f_files = numericCast(stats.files)
                info.f_ffree = numericCast(stats.freeFiles)
                info.f_favail = numericCast(stats.freeFiles)
                info.f_namemax = UInt(stats.maximumNameLength)
                fuse_reply_statfs(req, &info)
            } catch { reply(req, error) }
        }
        if writable { WritableLowLevelOperations.install(&ops) }
        return ops
    }
}

// MARK: helpers (all run on libfuse worker threads; free functions, since a C callback
// cannot capture even the enclosing type)

func sessionContext(_ req: fuse_req_t?) -> SessionContext {
    // libfuse hands back the pointer given to fuse_session_new; it outlives the session.
    Unmanaged<SessionContext>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
}

private func reply(_ req: fuse_req_t?, _ error: any Error) { replyError(req, error) }

func replyError(_ req: fuse_req_t?, _ error: any Error) {
    fuse_reply_err(req, (error as? FUSEError)?.errno ?? EIO)
}

/// The kernel-side caching the options allow; nothing changes the data behind the kernel's back
/// (an immutable tree, or a volume changed only through this mount).
private func configure(_ conn: UnsafeMutablePointer<fuse_conn_info>, _ options: MountOptions) {
    let wanted = UInt32(FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS | FUSE_CAP_PARALLEL_DIROPS
                        | (options.keepCache ? FUSE_CAP_CACHE_SYMLINKS : 0)
                        | (options.writebackCache ? FUSE_CAP_WRITEBACK_CACHE : 0))
    conn.pointee.want |= conn.pointee.capable & wanted
    conn.pointee.want &= ~UInt32(FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS_AUTO)
    if options.maximumWrite > 0 { conn.pointee.max_write = options.maximumWrite }  // libfuse caps it to its buffer
    conn.pointee.time_gran = 1
}

func statBuffer(_ a: FileAttributes) -> stat {
    var info = stat()
    info.st_ino = numericCast(a.inode)
    info.st_mode = a.mode
    info.st_nlink = numericCast(a.linkCount)
    info.st_uid = a.uid
    info.st_gid = a.gid
    info.st_size = Int(clamping: a.size)
    info.st_rdev = numericCast(a.device)
    info.st_blksize = numericCast(a.blockSize)
    info.st_blocks = Int(clamping: (a.size + 511) / 512)
    let time = timespec(tv_sec: Int(a.modificationSeconds), tv_nsec: Int(a.modificationNanoseconds))
    info.st_mtim = time
    info.st_atim = time
    info.st_ctim = time
    return info
}

func entryParameters(_ attributes: FileAttributes, _ options: MountOptions) -> fuse_entry_param {
    var entry = fuse_entry_param()
    entry.ino = fuse_ino_t(attributes.inode)
    entry.generation = 1
    entry.attr = statBuffer(attributes)
    entry.attr_timeout = options.attributeTimeout
    entry.entry_timeout = options.entryTimeout
    return entry
}

/// The getxattr/listxattr protocol: size 0 asks for the length, a short buffer is ERANGE.
private func replySized(_ req: fuse_req_t?, _ bytes: [UInt8], _ size: Int) {
    if size == 0 {
        fuse_reply_xattr(req, bytes.count)
    } else if size < bytes.count {
        fuse_reply_err(req, ERANGE)
    } else {
        bytes.withUnsafeBytes { _ = fuse_reply_buf(req, $0.baseAddress, $0.count) }
    }
}

private func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
    (bytes + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) } }
}

private func readDirectory(_ req: fuse_req_t?, _ inode: fuse_ino_t, _ size: Int, _ offset: off_t, plus: Bool) {
    guard offset >= 0 else { return reply(req, FUSEError.invalid) }
    let context = sessionContext(req)
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(size, 1))
    defer { buffer.deallocate() }
    var used = 0
    do {
        try context.operations.readDirectory(inode: UInt64(inode), offset: UInt64(offset)) { entry in
            let needed = withCString(entry.name) { name -> Int in
                if plus {
                    var parameters = entryParameters(entry.attributes, context.options)
                    return fuse_add_direntry_plus(req, buffer + used, size - used, name, &parameters, off_t(entry.nextOffset))
                }
                var info = statBuffer(entry.attributes)
                return fuse_add_direntry(req, buffer + used, size - used, name, &info, off_t(entry.nextOffset))
            }
            guard needed <= size - used else { return false }
            used += needed
            return true
        }
        fuse_reply_buf(req, buffer, used)
    } catch { reply(req, error) }
}
