export const ENTRYPOINT: string[];
export const MEDIA: { index: string; manifest: string; config: string; layer: string };
export interface Platform {
  architecture: string;
  variant?: string;
}
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string } & Platform;
}
export interface ImageContent {
  stage: string;
  names: string[];
  platform: Platform;
  labels?: Record<string, string>;
  entrypoint?: string[];
}
export function newLayout(near: string): string;
export function addImage(layout: string, o: ImageContent & { mtime: number }): Promise<Descriptor>;
export function addIndex(layout: string, manifests: Descriptor[], annotations?: Record<string, string>): Descriptor;
export function writeArchive(layout: string, desc: Descriptor, o: { out: string; name: string; mtime: number }): void;
export function ociImage(o: ImageContent & { out: string; mtime: number; name: string }): Promise<void>;
