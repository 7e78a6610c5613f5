// Hand-built ARF reports following the ARF 1.1 / XCCDF 1.2 result schema (what `oscap xccdf eval
// --results-arf` writes): a data stream with a Benchmark in the report request, a TestResult and
// an OVAL results report. `ovalPaddingBytes` grows the OVAL part (system characteristics are what
// makes real reports large) without adding rules.

import { execFile } from 'node:child_process';

export interface ArfOptions {
  /** Number of rules (and rule results). */
  rules?: number;
  /** Unique marker put in the first rule's id (to recognise a report after forwarding). */
  marker?: string;
  ovalPaddingBytes?: number;
  host?: string;
}

const RESULTS = ['pass', 'fail', 'notapplicable', 'error', 'fixed', 'notselected', 'informational'];

export function ruleId(i: number, marker = ''): string {
  return `xccdf_org.example_rule_${marker ? `${marker}_` : ''}${i}`;
}

export function makeArf(o: ArfOptions = {}): string {
  const n = o.rules ?? 7;
  const host = o.host ?? 'host.example.com';
  const rules: string[] = [];
  const results: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = ruleId(i, i === 0 ? o.marker : undefined);
    rules.push(
      `<xccdf-1.2:Rule id="${id}" selected="true" severity="${i % 2 ? 'high' : 'medium'}">
        <xccdf-1.2:title>Rule number ${i} &amp; more</xccdf-1.2:title>
        <xccdf-1.2:description>Check that <html:code xmlns:html="http://www.w3.org/1999/xhtml">/etc/thing${i}</html:code>
 is configured.</xccdf-1.2:description>
        <xccdf-1.2:rationale>Because
 reasons.</xccdf-1.2:rationale>
        <xccdf-1.2:reference href="https://example.com/ref/${i}">CCE-${1000 + i}</xccdf-1.2:reference>
        <xccdf-1.2:fix id="fix_${i}" system="urn:xccdf:fix:script:sh" reboot="false">echo <xccdf-1.2:sub idref="xccdf_org.example_value_limit" use="value"/> &gt; /etc/thing${i}</xccdf-1.2:fix>
        <xccdf-1.2:check system="http://oval.mitre.org/XMLSchema/oval-definitions-5"><xccdf-1.2:check-content-ref name="oval:org.example:def:${i}" href="#oval0"/></xccdf-1.2:check>
      </xccdf-1.2:Rule>`,
    );
    results.push(
      `<xccdf-1.2:rule-result idref="${id}" role="full" time="2026-12-03T10:00:00+00:00" severity="medium" weight="1.000000">
        <xccdf-1.2:result>${RESULTS[i % RESULTS.length]}</xccdf-1.2:result>
        <xccdf-1.2:ident system="https://nvd.nist.gov/cce/index.cfm">CCE-${1000 + i}</xccdf-1.2:ident>
      </xccdf-1.2:rule-result>`,
    );
  }
  const item = '<unix-sys:file_item id="@ID@" status="exists"><unix-sys:filepath>/etc/some/long/path/to/a/file/that/was/collected</unix-sys:filepath><unix-sys:user_id datatype="int">0</unix-sys:user_id></unix-sys:file_item>\n';
  const padding: string[] = [];
  let bytes = 0;
  for (let i = 0; bytes < (o.ovalPaddingBytes ?? 0); i++) {
    const line = item.replace('@ID@', String(i));
    padding.push(line);
    bytes += line.length;
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<arf:asset-report-collection xmlns:arf="http://scap.nist.gov/schema/asset-reporting-format/1.1" xmlns:core="http://scap.nist.gov/schema/reporting-core/1.1" xmlns:ai="http://scap.nist.gov/schema/asset-identification/1.1">
  <core:relationships xmlns:arfvocab="http://scap.nist.gov/specifications/arf/vocabulary/relationships/1.0#">
    <core:relationship type="arfvocab:createdFor" subject="xccdf1"><core:ref>collection1</core:ref></core:relationship>
  </core:relationships>
  <arf:report-requests>
    <arf:report-request id="collection1">
      <arf:content>
        <ds:data-stream-collection xmlns:ds="http://scap.nist.gov/schema/scap/source/1.2" id="scap_org.example_collection" schematron-version="1.3">
          <ds:component id="scap_org.example_comp_xccdf" timestamp="2026-12-01T00:00:00">
            <xccdf-1.2:Benchmark xmlns:xccdf-1.2="http://checklists.nist.gov/xccdf/1.2" id="xccdf_org.example_benchmark_test" resolved="1">
              <xccdf-1.2:status>draft</xccdf-1.2:status>
              <xccdf-1.2:title>Test benchmark</xccdf-1.2:title>
              <xccdf-1.2:Profile id="xccdf_org.example_profile_test"><xccdf-1.2:title>Test profile</xccdf-1.2:title></xccdf-1.2:Profile>
              <xccdf-1.2:Value id="xccdf_org.example_value_limit" type="number"><xccdf-1.2:title>Limit</xccdf-1.2:title><xccdf-1.2:value>10</xccdf-1.2:value></xccdf-1.2:Value>
              <xccdf-1.2:Group id="xccdf_org.example_group_all"><xccdf-1.2:title>All rules</xccdf-1.2:title>
              ${rules.join('\n')}
              </xccdf-1.2:Group>
            </xccdf-1.2:Benchmark>
          </ds:component>
        </ds:data-stream-collection>
      </arf:content>
    </arf:report-request>
  </arf:report-requests>
  <arf:assets><arf:asset id="asset0"><ai:computing-device><ai:fqdn>${host}</ai:fqdn></ai:computing-device></arf:asset></arf:assets>
  <arf:reports>
    <arf:report id="xccdf1">
      <arf:content>
        <xccdf-1.2:TestResult xmlns:xccdf-1.2="http://checklists.nist.gov/xccdf/1.2" id="xccdf_org.open-scap_testresult_xccdf_org.example_profile_test" start-time="2026-12-03T10:00:00+00:00" end-time="2026-12-03T10:01:00+00:00" version="0.1" test-system="cpe:/a:redhat:openscap:1.3.7">
          <xccdf-1.2:benchmark href="#scap_org.example_comp_xccdf" id="xccdf_org.example_benchmark_test"/>
          <xccdf-1.2:title>OSCAP Scan Result</xccdf-1.2:title>
          <xccdf-1.2:profile idref="xccdf_org.example_profile_test"/>
          <xccdf-1.2:target>${host}</xccdf-1.2:target>
          <xccdf-1.2:set-value idref="xccdf_org.example_value_limit">42</xccdf-1.2:set-value>
          ${results.join('\n')}
          <xccdf-1.2:score system="urn:xccdf:scoring:default" maximum="100.000000">63.5</xccdf-1.2:score>
        </xccdf-1.2:TestResult>
      </arf:content>
    </arf:report>
    <arf:report id="oval0">
      <arf:content>
        <oval_results xmlns="http://oval.mitre.org/XMLSchema/oval-results-5" xmlns:unix-sys="http://oval.mitre.org/XMLSchema/oval-system-characteristics-5#unix">
          <results><system><oval_system_characteristics><system_data>
${padding.join('')}
          </system_data></oval_system_characteristics></system></results>
        </oval_results>
      </arf:content>
    </arf:report>
  </arf:reports>
</arf:asset-report-collection>
`;
}

/** bzip2 through the system tool (what foreman_scap_client sends). */
export function bzip2(data: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile('bzip2', ['-c'], { encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    child.stdin?.end(data);
  });
}
