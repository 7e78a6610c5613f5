// The settings documentation generated from the schemas: the example files in config/settings.d
// and the Settings section of each module README. `npm run docs` writes them; a test fails when a
// file on disk differs from what the schemas say (scripts/settings-docs.ts).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { settingsFileName, type ModuleDefinition, type ProviderDefinition } from '../module.ts';
import { scanModulesDir } from '../registry.ts';
import { describeSettings, type SettingDoc, type TObject } from './schema.ts';

const WIDTH = 100;

/** Words of `text` wrapped to lines of at most WIDTH characters, each starting with `lead`. */
export function wrap(text: string, lead: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && lead.length + line.length + 1 + word.length > WIDTH) {
      lines.push(`${lead}${line}`);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(`${lead}${line}`);
  return lines;
}

function yamlValue(value: unknown): string {
  if (value === undefined) return '';
  const text = stringify(value, { flow: true, lineWidth: 0 }).trim();
  return text;
}

function settingLines(doc: SettingDoc): string[] {
  const out = wrap(doc.description, '# ');
  const shown = doc.default !== undefined ? doc.default : doc.example;
  out.push(shown === undefined ? `#:${doc.key}:` : `#:${doc.key}: ${yamlValue(shown)}`);
  return out;
}

/** config/settings.d/<module>.yml */
export function moduleSettingsFile(def: ModuleDefinition): string {
  const lines = ['---', ...wrap(def.summary, '# '), `:enabled: ${def.enabledByDefault ? 'true' : 'false'}`];
  for (const doc of describeSettings(def.settings)) {
    if (doc.hidden) continue;
    lines.push('', ...settingLines(doc));
  }
  return `${lines.join('\n')}\n`;
}

/** config/settings.d/<provider>.yml */
export function providerSettingsFile(def: ProviderDefinition): string {
  const lines = ['---', ...wrap(def.summary, '# ')];
  const docs = describeSettings(def.settings).filter((d) => !d.hidden);
  for (const doc of docs) lines.push('', ...settingLines(doc));
  return `${lines.join('\n')}\n`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
}

function tableRow(doc: SettingDoc): string {
  const shown = doc.default === undefined ? '–' : `\`${yamlValue(doc.default)}\``;
  const notes = [doc.extension ? '**extension**:' : '', doc.description, doc.constraints.length ? `(${doc.constraints.join('; ')})` : '']
    .filter((t) => t !== '')
    .join(' ');
  return `| \`:${doc.key}:\` | ${cell(shown)} | ${cell(notes)} |`;
}

function table(title: string, rows: string[]): string[] {
  return [title, '', '| key | default | meaning |', '| --- | --- | --- |', ...rows];
}

export const README_BEGIN = '<!-- settings: generated from the schemas by `npm run docs`; edit the schemas, not this table -->';
export const README_END = '<!-- end of generated settings -->';

/** The generated part of a module README's Settings section. */
export function readmeSettings(def: ModuleDefinition, providers: readonly ProviderDefinition[]): string {
  const enabledRow = `| \`:enabled:\` | \`${def.enabledByDefault ? 'true' : 'false'}\` | as every module (\`true\`, \`http\`, \`https\`) |`;
  const blocks = [table(`\`settings.d/${settingsFileName(def)}\``, [enabledRow, ...describeSettings(def.settings).map(tableRow)])];
  for (const p of [...providers].sort((a, b) => a.id.localeCompare(b.id))) {
    const rows = describeSettings(p.settings).map(tableRow);
    blocks.push(table(`\`settings.d/${p.id}.yml\` (provider \`${p.id}\`)`, rows.length ? rows : ['| – | – | no settings of its own |']));
  }
  return [README_BEGIN, '', ...blocks.flatMap((b) => [...b, '']), README_END].join('\n');
}

/** The generated Settings block of a program that is not a module (the router's settings.d/router.yml). */
export function standaloneReadmeSettings(file: string, settings: TObject): string {
  const block = table(`\`settings.d/${file}\``, describeSettings(settings).map(tableRow));
  return [README_BEGIN, '', ...block, '', README_END].join('\n');
}

/** `readme` with its generated block replaced, or undefined when it has no block to replace. */
export function replaceReadmeSettings(readme: string, generated: string): string | undefined {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) return undefined;
  return readme.slice(0, begin) + generated + readme.slice(end + README_END.length);
}

/**
 * Every generated file of the source tree at `root`, path → expected content: the settings files
 * of config/settings.d and the READMEs of modules that have the generated block.
 */
export async function generatedDocs(root: string): Promise<Map<string, string>> {
  const files = await scanModulesDir(join(root, 'src/modules'));
  const load = async <T>(file: string): Promise<T> => ((await import(pathToFileURL(file).href)) as { default: T }).default;
  const providers: ProviderDefinition[] = [];
  for (const [, file] of files.providers) providers.push(await load<ProviderDefinition>(file));
  const out = new Map<string, string>();
  for (const [dir, file] of files.modules) {
    const def = await load<ModuleDefinition>(file);
    out.set(join(root, 'config/settings.d', settingsFileName(def)), moduleSettingsFile(def));
    const own = providers.filter((p) => p.module === def.name);
    for (const p of own) out.set(join(root, 'config/settings.d', `${p.id}.yml`), providerSettingsFile(p));
    const readmePath = join(root, 'src/modules', dir, 'README.md');
    const readme = await readFile(readmePath, 'utf8').catch(() => undefined);
    const replaced = readme === undefined ? undefined : replaceReadmeSettings(readme, readmeSettings(def, own));
    if (replaced !== undefined) out.set(readmePath, replaced);
  }
  // The router is its own program (src/router), with settings.d/router.yml beside the proxy's files.
  const router = (await import(pathToFileURL(join(root, 'src/router/settings.ts')).href)) as { ROUTER_SETTINGS: TObject; ROUTER_FILE: string; ROUTER_SUMMARY: string };
  out.set(join(root, 'config/settings.d', router.ROUTER_FILE), providerSettingsFile({ id: 'router', module: 'router', summary: router.ROUTER_SUMMARY, settings: router.ROUTER_SETTINGS, create: () => ({}) }));
  const routerReadme = join(root, 'src/router/README.md');
  const replaced = replaceReadmeSettings(await readFile(routerReadme, 'utf8'), standaloneReadmeSettings(router.ROUTER_FILE, router.ROUTER_SETTINGS));
  if (replaced !== undefined) out.set(routerReadme, replaced);
  return out;
}
