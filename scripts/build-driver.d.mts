export const DRIVER: string;
export function buildDriver(): void;
