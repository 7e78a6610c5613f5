// A small SCAP benchmark (XCCDF 1.2 + OVAL 5.11) that checks a file the test writes, so that the
// real `oscap xccdf eval --results-arf` scans this machine and produces a real ARF report: rule
// `limit` passes (limit=42), rule `mode` fails (mode is not lax) and carries a fix with a <sub>
// that oscap resolves from the Value.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';

const OVAL = String.raw`<?xml version="1.0" encoding="UTF-8"?>
<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5" xmlns:oval="http://oval.mitre.org/XMLSchema/oval-common-5" xmlns:ind="http://oval.mitre.org/XMLSchema/oval-definitions-5#independent">
  <generator><oval:schema_version>5.11.2</oval:schema_version><oval:timestamp>2026-12-01T00:00:00</oval:timestamp></generator>
  <definitions>
    <definition class="compliance" id="oval:org.example:def:1" version="1"><metadata><title>limit is 42</title><description>limit</description></metadata><criteria><criterion test_ref="oval:org.example:tst:1" comment="limit"/></criteria></definition>
    <definition class="compliance" id="oval:org.example:def:2" version="1"><metadata><title>mode is lax</title><description>mode</description></metadata><criteria><criterion test_ref="oval:org.example:tst:2" comment="mode"/></criteria></definition>
  </definitions>
  <tests>
    <ind:textfilecontent54_test check="all" check_existence="at_least_one_exists" id="oval:org.example:tst:1" version="1" comment="limit"><ind:object object_ref="oval:org.example:obj:1"/><ind:state state_ref="oval:org.example:ste:1"/></ind:textfilecontent54_test>
    <ind:textfilecontent54_test check="all" check_existence="at_least_one_exists" id="oval:org.example:tst:2" version="1" comment="mode"><ind:object object_ref="oval:org.example:obj:2"/><ind:state state_ref="oval:org.example:ste:2"/></ind:textfilecontent54_test>
  </tests>
  <objects>
    <ind:textfilecontent54_object id="oval:org.example:obj:1" version="1"><ind:filepath>@CONFIG@</ind:filepath><ind:pattern operation="pattern match">^limit=(\d+)$</ind:pattern><ind:instance datatype="int" operation="greater than or equal">1</ind:instance></ind:textfilecontent54_object>
    <ind:textfilecontent54_object id="oval:org.example:obj:2" version="1"><ind:filepath>@CONFIG@</ind:filepath><ind:pattern operation="pattern match">^mode=(\w+)$</ind:pattern><ind:instance datatype="int" operation="greater than or equal">1</ind:instance></ind:textfilecontent54_object>
  </objects>
  <states>
    <ind:textfilecontent54_state id="oval:org.example:ste:1" version="1"><ind:subexpression operation="equals">42</ind:subexpression></ind:textfilecontent54_state>
    <ind:textfilecontent54_state id="oval:org.example:ste:2" version="1"><ind:subexpression operation="equals">lax</ind:subexpression></ind:textfilecontent54_state>
  </states>
</oval_definitions>
`;

const XCCDF = `<?xml version="1.0" encoding="UTF-8"?>
<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="xccdf_org.example_benchmark_files" resolved="1" xml:lang="en-US">
  <status>draft</status><title>Files of the test machine</title><version>1</version>
  <Profile id="xccdf_org.example_profile_files"><title>Files profile</title>
    <select idref="xccdf_org.example_rule_limit" selected="true"/><select idref="xccdf_org.example_rule_mode" selected="true"/>
  </Profile>
  <Value id="xccdf_org.example_value_mode" type="string"><title>Mode</title><value>lax</value></Value>
  <Rule id="xccdf_org.example_rule_limit" selected="true" severity="high"><title>Limit is 42</title><description>The limit line of the config.</description><reference href="https://example.com/limit">EX-1</reference><rationale>Limits matter.</rationale>
    <check system="http://oval.mitre.org/XMLSchema/oval-definitions-5"><check-content-ref href="oval.xml" name="oval:org.example:def:1"/></check></Rule>
  <Rule id="xccdf_org.example_rule_mode" selected="true" severity="low"><title>Mode is lax</title><description>The mode line.</description>
    <fix id="fix_mode" system="urn:xccdf:fix:script:sh">sed -i s/^mode=.*/mode=<sub idref="xccdf_org.example_value_mode"/>/ @CONFIG@</fix>
    <check system="http://oval.mitre.org/XMLSchema/oval-definitions-5"><check-content-ref href="oval.xml" name="oval:org.example:def:2"/></check></Rule>
</Benchmark>
`;

export interface Scan {
  arf: Buffer;
  /** Rule id → result, as oscap printed them. */
  printed: Map<string, string>;
}

/** Write the content and the checked file into `dir`, run oscap, return the ARF and its verdicts. */
export async function scanWithOscap(oscap: string, dir: string): Promise<Scan> {
  const config = join(dir, 'config');
  await writeFile(config, 'limit=42\nmode=strict\n');
  await writeFile(join(dir, 'oval.xml'), OVAL.replaceAll('@CONFIG@', config));
  await writeFile(join(dir, 'xccdf.xml'), XCCDF.replaceAll('@CONFIG@', config));
  const arfFile = join(dir, 'arf.xml');
  const stdout = await new Promise<string>((resolve, reject) => {
    // Exit status 2 means "some rule failed", which this benchmark is made to do.
    execFile(oscap, ['xccdf', 'eval', '--results-arf', arfFile, 'xccdf.xml'], { cwd: dir }, (err, out) =>
      err && (err as { code?: unknown }).code !== 2 ? reject(err) : resolve(out),
    );
  });
  const printed = new Map<string, string>();
  let rule: string | undefined;
  for (const line of stdout.split('\n')) {
    // oscap writes `Rule\r\t<id>` (the \r for its progress display on a terminal).
    const [key, value] = line.split(/[\r\t]+/);
    if (key === 'Rule') rule = value;
    else if (key === 'Result' && rule !== undefined) printed.set(rule, value ?? '');
  }
  const { readFile } = await import('node:fs/promises');
  return { arf: await readFile(arfFile), printed };
}
