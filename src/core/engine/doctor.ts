import { describeEndpoint } from './engineEndpoint.js';
import { type EngineFlavor, engineFlavor, engineName } from './engineFlavor.js';
import { describeEngineDisk, type EngineDisk, engineDisk } from './engineDisk.js';
import { engineInfoSchema, imageInspectSchema } from './engineSchemas.js';
import type { EngineConnection } from './locateEngine.js';

export interface DoctorReport {
  engine: { endpoint: string; flavor: EngineFlavor; version: string; apiVersion: string; os?: string; arch?: string; kernel?: string };
  runtimes: string[];
  defaultRuntime?: string;
  seccomp: boolean;
  runsc: { registered: boolean; works: boolean; detail?: string };
  images: Array<{ name: string; present: boolean; size?: number }>;
  disk: EngineDisk;
}

/** What a user needs to know before starting a task: which engine, which runtimes, which images. */
export async function runDoctor(engine: EngineConnection, images: string[], folders: Record<string, string> = {}): Promise<DoctorReport> {
  const info = engineInfoSchema.parse(await engine.docker.info());
  const runtimes = Object.keys(info.Runtimes).sort();
  const imageReports = await Promise.all(
    [...new Set(images)].map(async (name) => {
      try {
        const image = imageInspectSchema.parse(await engine.docker.getImage(name).inspect());
        return { name, present: true, size: image.Size };
      } catch {
        return { name, present: false };
      }
    }),
  );
  const probeImage = imageReports.find((image) => image.present)?.name;
  const flavor = engineFlavor(engine.version);
  const runsc = { registered: runtimes.includes('runsc'), works: false, detail: undefined as string | undefined };
  // Podman lists runsc among the runtimes it knows of, installed or not; Airlock runs gVisor on Docker only.
  if (flavor === 'podman') runsc.detail = 'Airlock runs gVisor on Docker only, and this engine is Podman';
  else if (!runsc.registered) runsc.detail = 'not registered with the engine';
  else if (!probeImage) runsc.detail = 'no local image to try it with';
  else {
    try {
      const container = await engine.docker.createContainer({
        Image: probeImage,
        Entrypoint: [],
        Cmd: ['true'],
        Labels: { 'airlock.doctor': '1' },
        HostConfig: { Runtime: 'runsc', NetworkMode: 'none', CapDrop: ['ALL'], AutoRemove: false },
      });
      try {
        await container.start();
        const result = (await container.wait()) as { StatusCode: number };
        runsc.works = result.StatusCode === 0;
        if (!runsc.works) runsc.detail = `probe container exited ${result.StatusCode}`;
      } finally {
        await container.remove({ force: true }).catch(() => undefined);
      }
    } catch (error) {
      runsc.detail = (error as Error).message.split('\n')[0];
    }
  }
  return {
    engine: {
      endpoint: describeEndpoint(engine.endpoint),
      flavor,
      version: engine.version.Version,
      apiVersion: engine.version.ApiVersion,
      os: engine.version.Os,
      arch: engine.version.Arch,
      kernel: engine.version.KernelVersion,
    },
    runtimes,
    defaultRuntime: info.DefaultRuntime,
    seccomp: (info.SecurityOptions ?? []).some((option) => option.includes('seccomp')),
    runsc,
    images: imageReports,
    disk: engineDisk(info, folders),
  };
}

export function formatDoctor(report: DoctorReport): string {
  const lines = [
    `engine     ${report.engine.endpoint}`,
    `version    ${report.engine.flavor === 'podman' ? `${engineName('podman')} ` : ''}${report.engine.version} (API ${report.engine.apiVersion}, ${report.engine.os ?? '?'}/${report.engine.arch ?? '?'})`,
    `runtimes   ${report.runtimes.join(', ')} (default ${report.defaultRuntime ?? '?'})`,
    `seccomp    ${report.seccomp ? 'enabled' : 'NOT enabled: the engine has no seccomp support'}`,
    `gVisor     ${report.runsc.works ? 'runsc works' : `runsc unavailable: ${report.runsc.detail}`}`,
    ...report.images.map((image) => `image      ${image.name}: ${image.present ? `present (${Math.round((image.size ?? 0) / 1e6)} MB)` : 'not present (will be pulled on first start)'}`),
    `disk       ${describeEngineDisk(report.disk)}`,
  ];
  return lines.join('\n');
}
