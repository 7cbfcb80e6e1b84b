//! The open-files limit, which bounds how many connections the process can
//! hold.

/// Raises the soft limit of open files to the hard one, and returns the
/// connection cap that fits under it: `wanted`, or fewer when the process
/// may not open that many files besides what else it needs (`reserve`).
#[cfg(unix)]
pub fn fit_to_open_files(wanted: usize, reserve: usize) -> usize {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    let limit = unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return wanted;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    };
    let room = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserve)
        .max(1);
    if room < wanted {
        tracing::warn!(
            wanted,
            allowed = room,
            open_files = limit,
            "OAUTH_APPS_MAX_CONNECTIONS is more than the open-files limit allows; capping"
        );
    }
    wanted.min(room)
}

#[cfg(not(unix))]
pub fn fit_to_open_files(wanted: usize, _reserve: usize) -> usize {
    wanted
}
