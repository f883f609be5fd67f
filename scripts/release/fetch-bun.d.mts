export function pinned(lockfile: string, pkg: string): { version: string; integrity: string };
export function fetchBun(pkg: string, o: { lockfile: string; cacheDir: string }): Promise<string>;
