export const ROOT: string;
export const PLUGINS: string[];
export function version(): string;
export function commit(): string;
export function compile(o: { outfile: string; target: string; bunTarget?: string; bunExe: string; hostBun?: string }): void;
