// Streaming XML for report parsing, on saxes (a well-kept, conformant streaming parser): the
// document arrives in chunks and comes out as open, text and close events, so a 50 MB ARF report
// is parsed with memory bounded by the largest text run, never by the document. saxes checks
// well-formedness (tags closed in order, quoted attributes, known entities, one root); a DOCTYPE
// is refused (ARF and XCCDF have none, and an internal subset could define entities). Names keep
// their namespace prefix; `localName` strips it (XCCDF is written both prefixed and with a
// default namespace).

import { StringDecoder } from 'node:string_decoder';
import { SaxesParser } from 'saxes';

export interface XmlHandlers {
  open(name: string, attrs: Readonly<Record<string, string>>, selfClosing: boolean): void;
  /** Character data (entities decoded, CDATA included); one run may arrive in several pieces. */
  text(text: string): void;
  close(name: string): void;
}

export class XmlSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlSyntaxError';
  }
}

export function localName(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(i + 1);
}

export class XmlStreamParser {
  private readonly decoder = new StringDecoder('utf8');
  private readonly sax = new SaxesParser({ position: true });
  /** The first syntax error, raised from write()/end() (saxes reports through an event). */
  private failure: XmlSyntaxError | undefined;
  private sawRoot = false;

  constructor(handlers: XmlHandlers) {
    const sax = this.sax;
    sax.on('error', (err) => {
      this.failure ??= new XmlSyntaxError(err.message);
    });
    sax.on('doctype', () => {
      this.failure ??= new XmlSyntaxError(`a DOCTYPE is not accepted in a report (line ${sax.line})`);
    });
    sax.on('opentag', (tag) => {
      this.sawRoot = true;
      handlers.open(tag.name, tag.attributes as Record<string, string>, tag.isSelfClosing);
    });
    sax.on('text', (text) => handlers.text(text));
    sax.on('cdata', (text) => handlers.text(text));
    sax.on('closetag', (tag) => handlers.close(tag.name));
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  write(chunk: Buffer | string): void {
    this.check();
    this.sax.write(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    this.check();
  }

  /** End of document: throws unless the document was whole and well-formed. */
  end(): void {
    this.check();
    const rest = this.decoder.end();
    if (rest !== '') this.sax.write(rest);
    this.sax.close();
    this.check();
    if (!this.sawRoot) throw new XmlSyntaxError('no root element');
  }
}
