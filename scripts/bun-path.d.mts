export function bunPath(): string;
