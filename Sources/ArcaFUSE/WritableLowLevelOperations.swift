import CFuse

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The libfuse callbacks of the changing operations, installed only when the mounted operations
/// are `WritableFileSystemOperations` (read-only file systems keep the table they had).
enum WritableLowLevelOperations {
    static func install(_ ops: inout fuse_lowlevel_ops) {
        ops.create = { req, parent, name, mode, info in
            guard let name, let info else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, context in
                let result = try fs.create(parent: UInt64(parent), name: bytes(name), mode: UInt32(mode), flags: info.pointee.flags,
                                           context: requestContext(req))
                info.pointee.fh = result.handle
                var entry = entryParameters(result.attributes, context.options)
                if fuse_reply_create(req, &entry, info) != 0 {
                    fs.release(inode: result.attributes.inode, handle: result.handle)
                }
            }
        }
        ops.mknod = { req, parent, name, mode, device in
            guard let name else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, context in
                try replyEntry(req, context, fs.makeNode(parent: UInt64(parent), name: bytes(name), mode: UInt32(mode),
                                                         device: UInt64(device), context: requestContext(req)))
            }
        }
        ops.mkdir = { req, parent, name, mode in
            guard let name else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, context in
                try replyEntry(req, context, fs.makeDirectory(parent: UInt64(parent), name: bytes(name), mode: UInt32(mode),
                                                              context: requestContext(req)))
            }
        }
        ops.symlink = { req, target, parent, name in
            guard let target, let name else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, context in
                try replyEntry(req, context, fs.makeSymbolicLink(parent: UInt64(parent), name: bytes(name), target: bytes(target),
                                                                 context: requestContext(req)))
            }
        }
        ops.link = { req, inode, newParent, newName in
            guard let newName else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, context in
                try replyEntry(req, context, fs.link(inode: UInt64(inode), newParent: UInt64(newParent), newName: bytes(newName)))
            }
        }
        ops.write = { req, inode, buffer, size, offset, info in
            guard let info, offset >= 0 else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, _ in
                let written = try fs.write(inode: UInt64(inode), handle: info.pointee.fh, offset: UInt64(offset),
                                           bytes: UnsafeRawBufferPointer(start: buffer, count: size))
                fuse_reply_write(req, written)
            }
        }
        ops.setattr = { req, inode, attributes, toSet, info in
            guard let attributes else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, context in
                let changes = attributeChanges(attributes.pointee, toSet)
                var result = statBuffer(try fs.setAttributes(inode: UInt64(inode), changes: changes, handle: info?.pointee.fh))
                fuse_reply_attr(req, &result, context.options.attributeTimeout)
            }
        }
        ops.unlink = { req, parent, name in
            guard let name else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, _ in
                try fs.unlink(parent: UInt64(parent), name: bytes(name))
                fuse_reply_err(req, 0)
            }
        }
        ops.rmdir = { req, parent, name in
            guard let name else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, _ in
                try fs.removeDirectory(parent: UInt64(parent), name: bytes(name))
                fuse_reply_err(req, 0)
            }
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            guard let name, let newName else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, _ in
                try fs.rename(parent: UInt64(parent), name: bytes(name), newParent: UInt64(newParent), newName: bytes(newName),
                              flags: UInt32(flags))
                fuse_reply_err(req, 0)
            }
        }
        ops.flush = { req, inode, info in
            guard let info else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, _ in
                try fs.flush(inode: UInt64(inode), handle: info.pointee.fh)
                fuse_reply_err(req, 0)
            }
        }
        ops.fsync = { req, inode, dataOnly, info in
            guard let info else { return replyError(req, FUSEError.invalid) }
            withWritable(req) { fs, _ in
                try fs.synchronize(inode: UInt64(inode), handle: info.pointee.fh, dataOnly: dataOnly != 0)
                fuse_reply_err(req, 0)
            }
        }
        ops.fsyncdir = { req, inode, dataOnly, _ in
            withWritable(req) { fs, _ in
                try fs.synchronizeDirectory(inode: UInt64(inode), dataOnly: dataOnly != 0)
                fuse_reply_err(req, 0)
            }
        }
    }
}

/// Runs `body` with the writable operations, answering `EROFS` when there are none and the
/// thrown error's errno (`EIO` for non-`FUSEError`s) when it throws.
private func withWritable(_ req: fuse_req_t?, _ body: (any WritableFileSystemOperations, SessionContext) throws -> Void) {
    let context = sessionContext(req)
    guard let writable = context.operations as? any WritableFileSystemOperations else {
        return replyError(req, FUSEError.readOnly)
    }
    do { try body(writable, context) } catch { replyError(req, error) }
}

private func bytes(_ name: UnsafePointer<CChar>) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: name, count: strlen(name))
}

private func requestContext(_ req: fuse_req_t?) -> RequestContext {
    guard let raw = fuse_req_ctx(req) else { return RequestContext(uid: 0, gid: 0, pid: 0) }
    return RequestContext(uid: raw.pointee.uid, gid: raw.pointee.gid, pid: raw.pointee.pid)
}

private func replyEntry(_ req: fuse_req_t?, _ context: SessionContext, _ attributes: FileAttributes) {
    var entry = entryParameters(attributes, context.options)
    fuse_reply_entry(req, &entry)
}

private func attributeChanges(_ info: stat, _ toSet: Int32) -> AttributeChanges {
    let set = UInt32(bitPattern: toSet)
    func has(_ flag: Int32) -> Bool { set & UInt32(flag) != 0 }
    var changes = AttributeChanges()
    if has(FUSE_SET_ATTR_MODE) { changes.mode = info.st_mode }
    if has(FUSE_SET_ATTR_UID) { changes.uid = info.st_uid }
    if has(FUSE_SET_ATTR_GID) { changes.gid = info.st_gid }
    if has(FUSE_SET_ATTR_SIZE) { changes.size = UInt64(max(0, info.st_size)) }
    if has(FUSE_SET_ATTR_MTIME_NOW) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        changes.modificationSeconds = Int64(now.tv_sec)
        changes.modificationNanoseconds = UInt32(now.tv_nsec)
    } else if has(FUSE_SET_ATTR_MTIME) {
        changes.modificationSeconds = Int64(info.st_mtim.tv_sec)
        changes.modificationNanoseconds = UInt32(info.st_mtim.tv_nsec)
    }
    return changes
}
