export const ENTRYPOINT: string[];
export const MEDIA: { index: string; manifest: string; config: string; layer: string };
export function ociImage(o: {
  stage: string;
  names: string[];
  out: string;
  platform: { architecture: string; variant?: string };
  mtime: number;
  name: string;
  labels?: Record<string, string>;
  entrypoint?: string[];
}): Promise<void>;
