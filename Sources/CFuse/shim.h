#ifndef ARCA_CFUSE_SHIM_H
#define ARCA_CFUSE_SHIM_H

// libfuse 3 low-level API. FUSE_USE_VERSION must be set before the include; 35 is the newest
// API level whose declarations Debian 12's libfuse 3.14 offers without the 3.12 loop-config
// opaque type (the session loop is reached as fuse_session_loop_mt_32, a real symbol).
#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>
#include <sys/sysmacros.h>

// makedev() is a macro in glibc, which Swift cannot call: the device number of a node.
static inline dev_t arca_fuse_makedev(unsigned int major, unsigned int minor) {
    return makedev(major, minor);
}

// struct fuse_file_info keeps its flags in C bit-fields; these setters make the intent explicit
// and do not depend on how the importer exposes bit-fields.
static inline void arca_fuse_set_keep_cache(struct fuse_file_info *fi, int on) { fi->keep_cache = on ? 1 : 0; }
static inline void arca_fuse_set_cache_readdir(struct fuse_file_info *fi, int on) { fi->cache_readdir = on ? 1 : 0; }

#endif
