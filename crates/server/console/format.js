// Names and units for what the API returns as numbers (REFERENCE.md section 4).

/** Task status codes (TaskResp.status). */
export const TASK_STATUS = {
  1: ['Waiting', ''], 2: ['Migrating', 'run'], 3: ['Paused', 'warn'], 4: ['Failed', 'bad'],
  5: ['Succeeded', 'ok'], 6: ['Retrying', 'run'], 7: ['Pausing', 'warn'],
};

/** Task group status codes (TaskGroupResp.status). */
export const GROUP_STATUS = {
  0: ['Waiting', ''], 1: ['Creating tasks', 'run'], 2: ['Monitoring', 'run'], 3: ['Paused', 'warn'],
  4: ['Task creation failed', 'bad'], 5: ['Migration failed', 'bad'], 6: ['Completed', 'ok'],
  7: ['Pausing', 'warn'], 8: ['Waiting for deletion', 'warn'], 9: ['Deleted', ''],
};

/** Sync task statuses (strings on the wire). */
export const SYNC_STATUS = { SYNCHRONIZING: ['Synchronizing', 'run'], STOPPED: ['Stopped', 'warn'] };

/** [name, css class] of a status in one of the tables above. */
export function statusName(table, code) {
  return table[code] ?? [`Unknown (${code})`, ''];
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB". */
export function bytes(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit += 1; }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

/** Bytes per second, "–" when idle. */
export function speed(n) {
  return n > 0 ? `${bytes(n)}/s` : '–';
}

/** Milliseconds as "1 h 02 min", "3 min 05 s", "12 s". */
export function duration(ms) {
  if (ms === undefined || ms === null || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  return days > 0 ? `${days} d ${hours} h` : `${hours} h ${minutes} min`;
}

/** 0..1 as "52.2 %". */
export function percent(fraction) {
  const value = Math.max(0, Math.min(1, Number(fraction) || 0));
  return `${(value * 100).toFixed(1)} %`;
}

/** Unix ms as a local date and time, "–" for 0 or absent. */
export function time(ms) {
  return ms ? new Date(ms).toLocaleString() : '–';
}

/** "1 group", "3 groups". */
export function plural(n, word) {
  return `${count(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** A whole number with thousands separators. */
export function count(n) {
  return n === undefined || n === null ? '–' : Number(n).toLocaleString();
}
