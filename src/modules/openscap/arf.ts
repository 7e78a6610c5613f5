// ARF (Asset Reporting Format) report → the JSON summary Foreman's arf_reports API takes (spec
// plugins.md §2.3 #1 step 2), in one streaming pass: the XCCDF Benchmark's rules are kept
// (title, description, rationale, references, fixes), then each rule-result of the TestResult
// becomes one log entry. Everything else in the document (OVAL results and system
// characteristics, the bulk of a large report) streams through without being kept.

import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { localName, XmlStreamParser, XmlSyntaxError } from './xml-stream.ts';

export interface ArfReference {
  href: string | null;
  title: string;
}
export interface ArfFix {
  id: string | null;
  system: string | null;
  full_text: string;
  reboot: string | null;
}
export interface ArfLog {
  source: string;
  result: string;
  title: string | null;
  description: string | null;
  rationale: string | null;
  references: ArfReference[];
  fixes: ArfFix[];
  severity: string | null;
}
export interface ArfSummary {
  logs: ArfLog[];
  digest: string;
  metrics: { passed: number; failed: number; othered: number };
  score: number | null;
}

interface FixDraft {
  id: string | null;
  system: string | null;
  reboot: string | null;
  /** Text pieces and `<sub idref>` placeholders, resolved with the TestResult's set-values. */
  parts: (string | { idref: string })[];
}
interface RuleDraft {
  id: string;
  severity: string | null;
  title: string | null;
  description: string | null;
  rationale: string | null;
  references: ArfReference[];
  fixes: FixDraft[];
}

/** Collapses the line breaks of XCCDF prose into spaces, as the reference's parser does. */
function flatten(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Event consumer building the summary (exported for the parser's unit tests). */
export class ArfSummaryBuilder {
  private readonly rules = new Map<string, RuleDraft>();
  private readonly setValues = new Map<string, string>();
  private readonly logs: ArfLog[] = [];
  private readonly metrics = { passed: 0, failed: 0, othered: 0 };
  private score: number | null = null;
  private sawTestResult = false;
  private depth = 0;
  // Where we are: the current rule (and its depth), the text being captured and where it goes.
  private rule: RuleDraft | undefined;
  private ruleDepth = 0;
  private capture: { depth: number; text: string; done: (text: string) => void } | undefined;
  private fix: FixDraft | undefined;
  private inTestResult = 0;
  private ruleResult: { idref: string; result: string | undefined } | undefined;

  readonly handlers = {
    open: (name: string, attrs: Readonly<Record<string, string>>): void => {
      this.depth++;
      const local = localName(name);
      if (this.capture) {
        if (this.fix && local === 'sub') this.fix.parts.push({ idref: attrs.idref ?? '' });
        return;
      }
      if (local === 'Rule' && !this.rule && attrs.id !== undefined) {
        this.rule = { id: attrs.id, severity: attrs.severity ?? null, title: null, description: null, rationale: null, references: [], fixes: [] };
        this.ruleDepth = this.depth;
        return;
      }
      if (this.rule && this.depth === this.ruleDepth + 1) {
        const rule = this.rule;
        if (local === 'title' && rule.title === null) this.startCapture((t) => (rule.title = t));
        else if (local === 'description' && rule.description === null) this.startCapture((t) => (rule.description = flatten(t)));
        else if (local === 'rationale' && rule.rationale === null) this.startCapture((t) => (rule.rationale = flatten(t)));
        else if (local === 'reference') {
          const href = attrs.href ?? null;
          this.startCapture((t) => rule.references.push({ href, title: t }));
        } else if (local === 'fix') {
          const fix: FixDraft = { id: attrs.id ?? null, system: attrs.system ?? null, reboot: attrs.reboot ?? null, parts: [] };
          this.fix = fix;
          this.startCapture(() => {
            rule.fixes.push(fix);
            this.fix = undefined;
          });
        }
        return;
      }
      if (local === 'TestResult' && !this.sawTestResult) {
        this.sawTestResult = true;
        this.inTestResult = this.depth;
        return;
      }
      if (this.inTestResult && this.depth === this.inTestResult + 1) {
        if (local === 'set-value') {
          const idref = attrs.idref ?? '';
          this.startCapture((t) => this.setValues.set(idref, t));
        } else if (local === 'score' && this.score === null) {
          this.startCapture((t) => (this.score = Number.parseFloat(t)));
        } else if (local === 'rule-result') {
          this.ruleResult = { idref: attrs.idref ?? '', result: undefined };
        }
        return;
      }
      if (this.ruleResult && this.depth === this.inTestResult + 2 && local === 'result') {
        const rr = this.ruleResult;
        this.startCapture((t) => (rr.result = t.trim()));
      }
    },
    text: (text: string): void => {
      if (!this.capture) return;
      this.capture.text += text;
      if (this.fix) this.fix.parts.push(text);
    },
    close: (name: string): void => {
      if (this.capture && this.capture.depth === this.depth) {
        const c = this.capture;
        this.capture = undefined;
        c.done(c.text);
      } else if (this.rule && this.depth === this.ruleDepth) {
        this.rules.set(this.rule.id, this.rule);
        this.rule = undefined;
      } else if (this.ruleResult && this.depth === this.inTestResult + 1 && localName(name) === 'rule-result') {
        this.addResult(this.ruleResult.idref, this.ruleResult.result ?? '');
        this.ruleResult = undefined;
      } else if (this.inTestResult && this.depth === this.inTestResult) {
        this.inTestResult = 0;
      }
      this.depth--;
    },
  };

  private startCapture(done: (text: string) => void): void {
    this.capture = { depth: this.depth, text: '', done };
  }

  private addResult(idref: string, result: string): void {
    if (result === 'notapplicable' || result === 'notselected') return;
    if (result === 'pass' || result === 'fixed') this.metrics.passed++;
    else if (result === 'fail') this.metrics.failed++;
    else this.metrics.othered++;
    const rule = this.rules.get(idref);
    this.logs.push({
      source: idref,
      result,
      title: rule?.title ?? null,
      description: rule?.description ?? null,
      rationale: rule?.rationale ?? null,
      references: rule?.references ?? [],
      fixes: (rule?.fixes ?? []).map((f) => ({
        id: f.id,
        system: f.system,
        full_text: f.parts.map((p) => (typeof p === 'string' ? p : (this.setValues.get(p.idref) ?? ''))).join(''),
        reboot: f.reboot,
      })),
      severity: rule?.severity ?? null,
    });
  }

  summary(digest: string): ArfSummary {
    if (!this.sawTestResult) throw new XmlSyntaxError('the document holds no XCCDF TestResult');
    return { logs: this.logs, digest, metrics: { ...this.metrics }, score: this.score };
  }
}

/** bunzip2 failed: the upload is not a bzip2 stream (or is truncated). */
export class DecompressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecompressError';
  }
}

export interface ParseOptions {
  /** The bzip2 decompressor (`bzip2`, run as `bzip2 -dc`). */
  bzip2: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Decompress a bzip2'd ARF report through `bzip2 -dc` (stdin → stdout, streamed: nothing is
 * buffered but the pipe) and parse it as it comes. Throws DecompressError or XmlSyntaxError.
 */
export function parseCompressedArf(compressed: Buffer, options: ParseOptions): Promise<ArfSummary> {
  const digest = createHash('sha256').update(compressed).digest('hex');
  const builder = new ArfSummaryBuilder();
  const parser = new XmlStreamParser(builder.handlers);
  return new Promise((resolve, reject) => {
    const child = spawn(options.bzip2, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, signal: options.signal });
    let parseError: Error | undefined;
    let stderr = '';
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(() => fail(new DecompressError(`bzip2 did not finish within ${options.timeoutMs} ms`)), options.timeoutMs);
    child.on('error', (err) => fail(new DecompressError(err.message)));
    child.stdin.on('error', () => undefined); // EPIPE when bzip2 quits early: its exit status says why
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (parseError) return;
      try {
        parser.write(chunk);
      } catch (err) {
        parseError = err as Error;
        child.stdout.destroy();
        child.kill('SIGKILL');
      }
    });
    child.on('close', (code) => {
      if (settled) return;
      if (parseError) return fail(parseError);
      if (code !== 0) return fail(new DecompressError(stderr.trim().replace(/^bzip2: /, '') || `bzip2 exited with ${code}`));
      try {
        parser.end();
        settled = true;
        clearTimeout(timer);
        resolve(builder.summary(digest));
      } catch (err) {
        fail(err as Error);
      }
    });
    child.stdin.end(compressed);
  });
}
