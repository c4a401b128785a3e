//! CPU time used so far by processes, from /proc: what benchmarks and the herd report per part
//! of the stack.

/// CPU seconds (user + system) used so far by the process `pid`; 0 if it is gone.
pub fn process_seconds(pid: u32) -> f64 {
    seconds_of(|p, _| p == pid)
}

/// CPU seconds (user + system) used so far by the live processes of the process group
/// `group` (the edge worker's node and workerd, say).
pub fn group_seconds(group: u32) -> f64 {
    seconds_of(|_, g| g == group)
}

fn seconds_of(select: impl Fn(u32, u32) -> bool) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0.0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the parenthesised command: state, ppid, pgrp, …; utime and stime are the
        // 12th and 13th of these.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let group = f.get(2).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        if select(pid, group) {
            ticks += f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
                + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        }
    }
    // The kernel's clock ticks: 100 per second on Linux.
    ticks / 100.0
}
