import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * The robot worker as containers/robot/Dockerfile ships it, built without Docker: the Dockerfile's
 * own esbuild command bundles the worker, its externals are installed beside the bundle at the
 * versions package.json pins, and the image's CMD runs it. Read from the Dockerfile, not copied,
 * so that the local stack (`npm start -- --worker-image`) runs what the image would run.
 *
 * Differences from the image, on purpose: the local Node.js runs the CMD (the image has Node 22);
 * the installed externals are cached per version under node_modules/.cache and linked into the
 * build directory, so that a rebuild costs the bundle only; no fonts are installed (the system's
 * are used).
 */
export interface WorkerImage {
  /** The CMD: the program with its arguments, run in `cwd` (the image's WORKDIR). */
  command: string;
  args: string[];
  cwd: string;
  /** The final stage's ENV; the task definition's environment (the stack's) goes on top. */
  env: Record<string, string>;
  timings: { bundleMs: number; depsMs: number; depsCached: boolean };
}

export interface WorkerImageOptions {
  repoRoot: string;
  /** Where the bundle is written and the CMD runs (the image's WORKDIR). */
  outDir: string;
  /** Default containers/robot/Dockerfile. */
  dockerfile?: string;
  /** Where installed externals are kept between builds; default node_modules/.cache/roboport-worker-image. */
  cacheDir?: string;
}

const run = promisify(execFile);

export async function buildWorkerImage(options: WorkerImageOptions): Promise<WorkerImage> {
  const dockerfile = parseDockerfile(readFileSync(options.dockerfile ?? path.join(options.repoRoot, 'containers/robot/Dockerfile'), 'utf8'));
  const build = esbuildCommand(dockerfile);
  const cmd = finalCommand(dockerfile);
  mkdirSync(options.outDir, { recursive: true });

  const bundleStarted = performance.now();
  const outfile = path.join(options.outDir, path.basename(build.outfile));
  const esbuild = path.join(options.repoRoot, 'node_modules/.bin/esbuild');
  await run(esbuild, [...build.args, `--outfile=${outfile}`, '--log-level=warning'], { cwd: options.repoRoot });
  const bundleMs = Math.round(performance.now() - bundleStarted);

  const depsStarted = performance.now();
  const rootPackage = JSON.parse(readFileSync(path.join(options.repoRoot, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const { dir: depsDir, cached: depsCached } = await installRuntimeDeps(
    runtimeDependencies(build.externals, dockerfile.runtimeDeps, rootPackage.dependencies ?? {}),
    options.cacheDir ?? path.join(options.repoRoot, 'node_modules/.cache/roboport-worker-image'),
  );
  // The image has its node_modules beside main.mjs; bare imports from the bundle resolve there.
  const modulesLink = path.join(options.outDir, 'node_modules');
  rmSync(modulesLink, { recursive: true, force: true });
  symlinkSync(path.join(depsDir, 'node_modules'), modulesLink, 'junction');
  const depsMs = Math.round(performance.now() - depsStarted);

  const [program, ...args] = cmd.argv;
  if (program !== 'node') throw new Error(`the worker image's CMD runs ${program}, not node: ${JSON.stringify(cmd.argv)}`);
  const script = args.find((arg) => !arg.startsWith('-'));
  if (script && !existsSync(path.join(options.outDir, script))) {
    throw new Error(`the worker image's CMD runs ${script}, but the Dockerfile's esbuild command writes ${path.basename(build.outfile)}`);
  }
  return { command: process.execPath, args, cwd: options.outDir, env: cmd.env, timings: { bundleMs, depsMs, depsCached } };
}

interface Instruction {
  keyword: string;
  value: string;
}

interface Dockerfile {
  stages: Instruction[][];
  /** The packages the runtime-deps stage installs (its `keep` list), when it names them. */
  runtimeDeps: string[] | undefined;
}

/** Instructions per stage; comments dropped, continuation lines joined. */
export function parseDockerfile(text: string): Dockerfile {
  const logical = text
    .split(/\r?\n/)
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    if (!match) continue;
    const instruction = { keyword: match[1]!.toUpperCase(), value: match[2]! };
    if (instruction.keyword === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  const keep = /\bkeep\s*=\s*\[([^\]]*)\]/.exec(text)?.[1];
  const runtimeDeps = keep === undefined ? undefined : [...keep.matchAll(/['"]([^'"]+)['"]/g)].map((quoted) => quoted[1]!);
  return { stages, runtimeDeps };
}

/** The `npx esbuild ...` of a RUN: its arguments without --outfile, the outfile, the externals. */
function esbuildCommand(dockerfile: Dockerfile): { args: string[]; outfile: string; externals: string[] } {
  for (const instruction of dockerfile.stages.flat()) {
    if (instruction.keyword !== 'RUN') continue;
    const words = shellWords(instruction.value);
    const at = words.findIndex((word, index) => word === 'esbuild' && words[index - 1] === 'npx');
    if (at < 0) continue;
    const end = words.findIndex((word, index) => index > at && ['&&', '||', ';', '|'].includes(word));
    const args = words.slice(at + 1, end < 0 ? undefined : end);
    const outfile = args.find((arg) => arg.startsWith('--outfile='))?.slice('--outfile='.length);
    if (!outfile) throw new Error('the Dockerfile esbuild command has no --outfile');
    const externals = args.filter((arg) => arg.startsWith('--external:')).map((arg) => arg.slice('--external:'.length));
    return { args: args.filter((arg) => !arg.startsWith('--outfile=')), outfile, externals };
  }
  throw new Error('no RUN npx esbuild ... in the Dockerfile');
}

/** The final stage's CMD (exec form) and ENV. */
function finalCommand(dockerfile: Dockerfile): { argv: string[]; env: Record<string, string> } {
  const stage = dockerfile.stages.at(-1) ?? [];
  const cmd = stage.findLast((instruction) => instruction.keyword === 'CMD');
  if (!cmd) throw new Error('the Dockerfile final stage has no CMD');
  const argv: unknown = JSON.parse(cmd.value);
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((arg) => typeof arg === 'string')) {
    throw new Error(`the worker image's CMD is not in exec form: ${cmd.value}`);
  }
  const env: Record<string, string> = {};
  for (const instruction of stage.filter((candidate) => candidate.keyword === 'ENV')) {
    const words = shellWords(instruction.value);
    if (words[0] && !words[0].includes('=')) env[words[0]] = words.slice(1).join(' ');
    else for (const word of words) env[word.slice(0, word.indexOf('='))] = word.slice(word.indexOf('=') + 1);
  }
  return { argv: argv as string[], env };
}

/** The externals with the versions package.json pins; the Dockerfile's install list must be the same set. */
function runtimeDependencies(externals: string[], runtimeDeps: string[] | undefined, versions: Record<string, string>): Record<string, string> {
  if (runtimeDeps && [...runtimeDeps].sort().join() !== [...externals].sort().join()) {
    throw new Error(`the Dockerfile installs ${runtimeDeps.join(', ')} but the bundle leaves ${externals.join(', ')} external`);
  }
  return Object.fromEntries(
    externals.map((name) => {
      const version = versions[name];
      if (!version) throw new Error(`${name} is external in the worker bundle but not a dependency in package.json`);
      return [name, version];
    }),
  );
}

/** `npm install` of exactly these packages, once per set of versions (and platform). */
async function installRuntimeDeps(dependencies: Record<string, string>, cacheDir: string): Promise<{ dir: string; cached: boolean }> {
  const manifest = `${JSON.stringify({ private: true, dependencies }, null, 2)}\n`;
  const key = createHash('sha256').update(`${process.platform}-${process.arch}\n${manifest}`).digest('hex').slice(0, 16);
  const dir = path.join(cacheDir, `deps-${key}`);
  if (existsSync(path.join(dir, 'node_modules', '.package-lock.json'))) return { dir, cached: true };

  // Installed aside and renamed into place: an interrupted install is never taken for a finished one.
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  writeFileSync(path.join(partial, 'package.json'), manifest);
  await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: partial,
    shell: process.platform === 'win32',
    maxBuffer: 16 * 1024 * 1024,
  });
  try {
    renameSync(partial, dir);
  } catch (error) {
    // Another build finished the same install first.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'node_modules', '.package-lock.json'))) throw error;
  }
  return { dir, cached: false };
}

/** Splits a shell command line into words: quotes and backslash escapes as sh reads them, no expansion. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (char === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new Error(`unterminated ' in: ${line}`);
      word += line.slice(i + 1, close);
      inWord = true;
      i = close;
    } else if (char === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) i++;
        word += line[i];
      }
      if (i >= line.length) throw new Error(`unterminated " in: ${line}`);
    } else if (char === '\\') {
      word += line[++i] ?? '';
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
