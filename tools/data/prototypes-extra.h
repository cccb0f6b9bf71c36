/*
 * HAND-KEPT prototypes read by tools/gen_syscall_tables.py after syscalls.h;
 * an entry here replaces the one from syscalls.h.  Written by hand after the
 * kernel's SYSCALL_DEFINEx() definitions (not fetched; review against the tree) (Linux 6.18 sources: net/socket.c,
 * fs/xattr.c, fs/namespace.c, kernel/futex/syscalls.c, security/landlock/
 * syscalls.c, security/lsm_syscalls.c, mm/*.c, arch/x86/kernel/*.c,
 * arch/arm64/kernel/sys.c ...) for syscalls that the fetched (older)
 * syscalls.h lacks, declares without parameter names, or declares with an
 * out-of-tree signature (futex_wait/futex_wake).
 */

/* net/socket.c: named parameters */
asmlinkage long sys_socket(int family, int type, int protocol);
asmlinkage long sys_socketpair(int family, int type, int protocol, int __user *usockvec);
asmlinkage long sys_bind(int fd, struct sockaddr __user *umyaddr, int addrlen);
asmlinkage long sys_listen(int fd, int backlog);
asmlinkage long sys_accept(int fd, struct sockaddr __user *upeer_sockaddr, int __user *upeer_addrlen);
asmlinkage long sys_accept4(int fd, struct sockaddr __user *upeer_sockaddr, int __user *upeer_addrlen, int flags);
asmlinkage long sys_connect(int fd, struct sockaddr __user *uservaddr, int addrlen);
asmlinkage long sys_getsockname(int fd, struct sockaddr __user *usockaddr, int __user *usockaddr_len);
asmlinkage long sys_getpeername(int fd, struct sockaddr __user *usockaddr, int __user *usockaddr_len);
asmlinkage long sys_sendto(int fd, void __user *buff, size_t len, unsigned int flags, struct sockaddr __user *addr, int addr_len);
asmlinkage long sys_recvfrom(int fd, void __user *ubuf, size_t size, unsigned int flags, struct sockaddr __user *addr, int __user *addr_len);
asmlinkage long sys_shutdown(int fd, int how);

/* fs/select.c, fs/readdir.c, fs/aio.c, kernel/signal.c, kernel/sys.c: named parameters */
asmlinkage long sys_pselect6(int n, fd_set __user *inp, fd_set __user *outp, fd_set __user *exp, struct __kernel_timespec __user *tsp, void __user *sig);
asmlinkage long sys_pselect6_time32(int n, fd_set __user *inp, fd_set __user *outp, fd_set __user *exp, struct old_timespec32 __user *tsp, void __user *sig);
asmlinkage long sys_ppoll(struct pollfd __user *ufds, unsigned int nfds, struct __kernel_timespec __user *tsp, const sigset_t __user *sigmask, size_t sigsetsize);
asmlinkage long sys_ppoll_time32(struct pollfd __user *ufds, unsigned int nfds, struct old_timespec32 __user *tsp, const sigset_t __user *sigmask, size_t sigsetsize);
asmlinkage long sys_old_readdir(unsigned int fd, struct old_linux_dirent __user *dirent, unsigned int count);
asmlinkage long sys_io_submit(aio_context_t ctx_id, long nr, struct iocb __user * __user *iocbpp);
asmlinkage long sys_rt_sigaction(int sig, const struct sigaction __user *act, struct sigaction __user *oact, size_t sigsetsize);
asmlinkage long sys_sigaction(int sig, const struct old_sigaction __user *act, struct old_sigaction __user *oact);
asmlinkage long sys_sigsuspend(int unused1, int unused2, old_sigset_t mask);
asmlinkage long sys_uname(struct old_utsname __user *name);
asmlinkage long sys_olduname(struct oldold_utsname __user *name);

/* kernel/futex/syscalls.c (6.7+ upstream signatures) */
asmlinkage long sys_futex_waitv(struct futex_waitv __user *waiters, unsigned int nr_futexes, unsigned int flags, struct __kernel_timespec __user *timeout, clockid_t clockid);
asmlinkage long sys_futex_wake(void __user *uaddr, unsigned long mask, int nr, unsigned int flags);
asmlinkage long sys_futex_wait(void __user *uaddr, unsigned long val, unsigned long mask, unsigned int flags, struct __kernel_timespec __user *timeout, clockid_t clockid);
asmlinkage long sys_futex_requeue(struct futex_waitv __user *waiters, unsigned int flags, int nr_wake, int nr_requeue);

/* syscalls newer than the fetched syscalls.h */
asmlinkage long sys_epoll_pwait2(int epfd, struct epoll_event __user *events, int maxevents, const struct __kernel_timespec __user *timeout, const sigset_t __user *sigmask, size_t sigsetsize);
asmlinkage long sys_mount_setattr(int dfd, const char __user *path, unsigned int flags, struct mount_attr __user *uattr, size_t usize);
asmlinkage long sys_quotactl_fd(unsigned int fd, unsigned int cmd, qid_t id, void __user *addr);
asmlinkage long sys_landlock_create_ruleset(const struct landlock_ruleset_attr __user *const attr, const size_t size, const __u32 flags);
asmlinkage long sys_landlock_add_rule(const int ruleset_fd, const enum landlock_rule_type rule_type, const void __user *const rule_attr, const __u32 flags);
asmlinkage long sys_landlock_restrict_self(const int ruleset_fd, const __u32 flags);
asmlinkage long sys_memfd_secret(unsigned int flags);
asmlinkage long sys_process_mrelease(int pidfd, unsigned int flags);
asmlinkage long sys_set_mempolicy_home_node(unsigned long start, unsigned long len, unsigned long home_node, unsigned long flags);
asmlinkage long sys_cachestat(unsigned int fd, struct cachestat_range __user *cstat_range, struct cachestat __user *cstat, unsigned int flags);
asmlinkage long sys_fchmodat2(int dfd, const char __user *filename, umode_t mode, unsigned int flags);
asmlinkage long sys_map_shadow_stack(unsigned long addr, unsigned long size, unsigned int flags);
asmlinkage long sys_statmount(const struct mnt_id_req __user *req, struct statmount __user *buf, size_t bufsize, unsigned int flags);
asmlinkage long sys_listmount(const struct mnt_id_req __user *req, u64 __user *mnt_ids, size_t nr_mnt_ids, unsigned int flags);
asmlinkage long sys_lsm_get_self_attr(unsigned int attr, struct lsm_ctx __user *ctx, u32 __user *size, u32 flags);
asmlinkage long sys_lsm_set_self_attr(unsigned int attr, struct lsm_ctx __user *ctx, u32 size, u32 flags);
asmlinkage long sys_lsm_list_modules(u64 __user *ids, u32 __user *size, u32 flags);
asmlinkage long sys_mseal(unsigned long start, size_t len, unsigned long flags);
asmlinkage long sys_setxattrat(int dfd, const char __user *pathname, unsigned int at_flags, const char __user *name, const struct xattr_args __user *uargs, size_t usize);
asmlinkage long sys_getxattrat(int dfd, const char __user *pathname, unsigned int at_flags, const char __user *name, struct xattr_args __user *uargs, size_t usize);
asmlinkage long sys_listxattrat(int dfd, const char __user *pathname, unsigned int at_flags, char __user *list, size_t size);
asmlinkage long sys_removexattrat(int dfd, const char __user *pathname, unsigned int at_flags, const char __user *name);
asmlinkage long sys_open_tree_attr(int dfd, const char __user *filename, unsigned int flags, struct mount_attr __user *uattr, size_t usize);
asmlinkage long sys_file_getattr(int dfd, const char __user *filename, struct file_attr __user *ufattr, size_t usize, unsigned int at_flags);
asmlinkage long sys_file_setattr(int dfd, const char __user *filename, struct file_attr __user *ufattr, size_t usize, unsigned int at_flags);
asmlinkage long sys_uretprobe(void);
asmlinkage long sys_uprobe(void);

/* arch entry points (arch/x86/kernel/sys_x86_64.c, arch/arm64/kernel/sys.c,
   arch/x86/kernel/{process_64,ioport,ldt,tls,vm86_32,signal_*}.c) */
asmlinkage long sys_mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, unsigned long fd, unsigned long off);
asmlinkage long sys_arch_prctl(int option, unsigned long arg2);
asmlinkage long sys_iopl(unsigned int level);
asmlinkage long sys_modify_ldt(int func, void __user *ptr, unsigned long bytecount);
asmlinkage long sys_set_thread_area(struct user_desc __user *u_info);
asmlinkage long sys_get_thread_area(struct user_desc __user *u_info);
asmlinkage long sys_rt_sigreturn(void);
asmlinkage long sys_sigreturn(void);
asmlinkage long sys_vm86old(struct vm86_struct __user *user_vm86);
asmlinkage long sys_vm86(unsigned long cmd, unsigned long arg);

/* arch/x86/kernel/sys_ia32.c: 64-bit arguments split into 32-bit halves */
asmlinkage long sys_ia32_truncate64(const char __user *filename, unsigned long offset_low, unsigned long offset_high);
asmlinkage long sys_ia32_ftruncate64(unsigned int fd, unsigned long offset_low, unsigned long offset_high);
asmlinkage long sys_ia32_pread64(unsigned int fd, char __user *ubuf, u32 count, u32 poslo, u32 poshi);
asmlinkage long sys_ia32_pwrite64(unsigned int fd, const char __user *ubuf, u32 count, u32 poslo, u32 poshi);
asmlinkage long sys_ia32_fadvise64_64(int fd, __u32 offset_low, __u32 offset_high, __u32 len_low, __u32 len_high, int advice);
asmlinkage long sys_ia32_readahead(int fd, unsigned int off_lo, unsigned int off_hi, size_t count);
asmlinkage long sys_ia32_sync_file_range(int fd, unsigned int off_low, unsigned int off_hi, unsigned int n_low, unsigned int n_hi, int flags);
asmlinkage long sys_ia32_fadvise64(int fd, unsigned int offset_lo, unsigned int offset_hi, size_t len, int advice);
asmlinkage long sys_ia32_fallocate(int fd, int mode, unsigned int offset_lo, unsigned int offset_hi, unsigned int len_lo, unsigned int len_hi);
