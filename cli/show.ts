// placeholder replaced below
export function showMain(_argv: string[]): number {
  return 2;
}
