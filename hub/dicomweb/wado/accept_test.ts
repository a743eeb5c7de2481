import assert from "node:assert/strict";
import { TransferSyntax as TS } from "@conduit/shared/dicom";
import {
  acceptedEncapsulatedBulk,
  acceptedFrameSyntaxes,
  acceptedImageType,
  acceptedInstances,
  acceptedTransferSyntax,
  acceptedTransferSyntaxes,
  acceptedZip,
  acceptsBulk,
  acceptsJson,
  frameMediaType,
  parseAccept,
} from "./accept.ts";

const status = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as { status?: number }).status;
  }
  return undefined;
};

Deno.test("parseAccept() orders ranges by q, drops q=0, keeps quoted commas inside a range", () => {
  const r = parseAccept(
    'image/png;q=0.5, multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1, image/gif;q=0',
  );
  assert.deepEqual(r.map((x) => [x.media, x.q]), [["multipart/related", 1], ["image/png", 0.5]]);
  assert.equal(r[0].params.get("type"), "application/dicom");
  assert.equal(r[0].params.get("transfer-syntax"), "1.2.840.10008.1.2.1");
  assert.deepEqual(parseAccept(undefined), []);
  assert.deepEqual(parseAccept("  "), []);
});

Deno.test("acceptedTransferSyntax() gives Explicit VR Little Endian by default, the asked syntax, * as stored", () => {
  assert.equal(acceptedTransferSyntax(undefined), TS.ExplicitVRLittleEndian);
  assert.equal(acceptedTransferSyntax("*/*"), TS.ExplicitVRLittleEndian);
  assert.equal(
    acceptedTransferSyntax('multipart/related; type="application/dicom"'),
    TS.ExplicitVRLittleEndian,
  );
  assert.equal(
    acceptedTransferSyntax(`multipart/related; type="application/dicom"; transfer-syntax=${TS.Rle}`),
    TS.Rle,
  );
  assert.equal(acceptedTransferSyntax('multipart/related; type="application/dicom"; transfer-syntax=*'), "*");
  // The preferred range wins, whatever its place.
  assert.equal(
    acceptedTransferSyntax(
      `multipart/related; type="application/dicom"; transfer-syntax=${TS.Rle};q=0.2, multipart/related; type="application/dicom"; transfer-syntax=*`,
    ),
    "*",
  );
  assert.deepEqual(
    acceptedTransferSyntaxes(
      `multipart/related; type="application/dicom"; transfer-syntax=${TS.Rle}, multipart/related; type="application/dicom"; transfer-syntax=*;q=0.5, image/jpeg`,
    ),
    [TS.Rle, "*"],
  );
  assert.equal(status(() => acceptedTransferSyntax("application/json")), 406);
  assert.equal(status(() => acceptedTransferSyntax("*/*;q=0")), 406);
  assert.equal(status(() => acceptedTransferSyntax('multipart/related; type="image/jpeg"')), 406);
});

Deno.test("acceptedFrameSyntaxes() lists the syntaxes allowed, defaults first; undefined for as stored", () => {
  assert.equal(acceptedFrameSyntaxes(undefined), undefined);
  assert.equal(acceptedFrameSyntaxes("*/*"), undefined);
  assert.equal(acceptedFrameSyntaxes("multipart/related"), undefined);
  assert.equal(acceptedFrameSyntaxes('multipart/related; type="image/jls"; transfer-syntax=*'), undefined);
  // Big endian only when named: application/octet-stream is little endian.
  assert.deepEqual(acceptedFrameSyntaxes('multipart/related; type="application/octet-stream"'), [
    TS.ExplicitVRLittleEndian,
    TS.ImplicitVRLittleEndian,
  ]);
  assert.deepEqual(
    acceptedFrameSyntaxes(
      `multipart/related; type="application/octet-stream"; transfer-syntax=${TS.ExplicitVRBigEndian}`,
    ),
    [TS.ExplicitVRBigEndian],
  );
  assert.deepEqual(
    acceptedFrameSyntaxes(
      `multipart/related; type="image/jls"; transfer-syntax=${TS.JpegLsLossless};q=0.9, multipart/related; type="image/x-dicom-rle"`,
    ),
    [TS.Rle, TS.JpegLsLossless],
  );
  // A syntax that is not of the media type is not allowed.
  assert.equal(
    status(() => acceptedFrameSyntaxes(`multipart/related; type="image/jls"; transfer-syntax=${TS.Rle}`)),
    406,
  );
  assert.equal(status(() => acceptedFrameSyntaxes("image/gif")), 406);
  assert.equal(status(() => acceptedFrameSyntaxes("*/*;q=0")), 406);
});

Deno.test("frameMediaType() names the media type of a syntax's frames", () => {
  assert.equal(frameMediaType(TS.ExplicitVRLittleEndian), "application/octet-stream");
  assert.equal(frameMediaType(TS.JpegBaseline), "image/jpeg");
  assert.equal(frameMediaType(TS.Jpeg2000Lossless), "image/jp2");
  assert.equal(frameMediaType(TS.Rle), "image/x-dicom-rle");
  assert.equal(frameMediaType("1.2.3.4"), "application/octet-stream");
});

Deno.test("acceptedEncapsulatedBulk() takes the stored media type or any, a single part only when one", () => {
  const jpeg = (accept: string | undefined) =>
    acceptedEncapsulatedBulk(accept, "image/jpeg", TS.JpegBaseline, false);
  assert.equal(jpeg(undefined), "multipart");
  assert.equal(jpeg('multipart/related; type="image/jpeg"'), "multipart");
  assert.equal(jpeg(`multipart/related; type="image/jpeg"; transfer-syntax=${TS.JpegBaseline}`), "multipart");
  assert.equal(jpeg("*/*"), "multipart");
  assert.equal(jpeg("multipart/related"), "multipart");
  assert.equal(jpeg('multipart/related; type="application/octet-stream"; transfer-syntax=*'), "multipart");
  assert.equal(jpeg('multipart/related; type="application/octet-stream"'), undefined);
  assert.equal(
    jpeg(`multipart/related; type="image/jpeg"; transfer-syntax=${TS.JpegLosslessSV1}`),
    undefined,
  );
  assert.equal(jpeg("image/jpeg"), undefined, "several frames do not fit one part");
  assert.equal(jpeg('image/jp2, multipart/related; type="image/jpeg";q=0.5'), "multipart");

  const mp4 = (accept: string) => acceptedEncapsulatedBulk(accept, "video/mp4", TS.Mpeg4, true);
  assert.equal(mp4("video/mp4"), "single");
  assert.equal(mp4("video/*"), "single");
  assert.equal(mp4('multipart/related; type="video/mp4"'), "multipart");
  assert.equal(mp4("video/mpeg"), undefined);
  assert.equal(acceptedEncapsulatedBulk("video/h265", "video/H265", TS.Hevc, true), "single");
});

Deno.test("acceptsJson(), acceptsBulk() and acceptedZip() read the same ranges", () => {
  assert.equal(acceptsJson(undefined), true);
  assert.equal(acceptsJson("application/dicom+json"), true);
  assert.equal(acceptsJson("application/dicom+json;q=0, application/xml"), false);
  assert.equal(acceptsBulk('multipart/related; type="application/octet-stream"'), true);
  assert.equal(acceptsBulk("image/png"), false);
  assert.deepEqual(acceptedZip("application/zip"), { transferSyntax: "*" });
  assert.deepEqual(acceptedZip(`application/zip; transfer-syntax=${TS.Rle}`), { transferSyntax: TS.Rle });
  assert.equal(acceptedZip("application/zip;q=0"), undefined);
  assert.equal(acceptedZip("*/*"), undefined);
});

Deno.test("acceptedInstances() takes application/dicom as one single part, for one instance only", () => {
  assert.deepEqual(acceptedInstances("application/dicom", true), {
    syntaxes: [TS.ExplicitVRLittleEndian],
    single: true,
  });
  assert.deepEqual(acceptedInstances("application/dicom; transfer-syntax=*", true), {
    syntaxes: ["*"],
    single: true,
  });
  assert.deepEqual(acceptedInstances(undefined, true), {
    syntaxes: [TS.ExplicitVRLittleEndian],
    single: false,
  });
  assert.deepEqual(acceptedInstances("*/*", true).single, false);
  // The preferred range decides the form; the syntaxes are that form's.
  assert.deepEqual(
    acceptedInstances(
      `application/dicom; transfer-syntax=${TS.Rle}, multipart/related; type="application/dicom"; transfer-syntax=*`,
      true,
    ),
    // The other form's syntaxes, tried when none of the preferred form's can be had.
    { syntaxes: [TS.Rle], single: true, other: ["*"] },
  );
  assert.deepEqual(
    acceptedInstances(
      `application/dicom; transfer-syntax=${TS.Rle}, multipart/related; type="application/dicom"; transfer-syntax=*`,
      false,
    ),
    { syntaxes: ["*"], single: false },
  );
  assert.equal(status(() => acceptedInstances("application/dicom", false)), 406);
  assert.equal(status(() => acceptedInstances("application/dicom+json", true)), 406);
});

Deno.test("a q=0 range refuses its media type even where a wildcard would take it (RFC 9110 12.5.1)", () => {
  // Rendered: JPEG refused, so the wildcard gives PNG; both refused: 406.
  assert.equal(acceptedImageType("image/jpeg;q=0, */*"), "image/png");
  assert.equal(acceptedImageType("image/jpeg;q=0, image/*"), "image/png");
  assert.equal(status(() => acceptedImageType("image/jpeg;q=0, image/png;q=0, */*")), 406);
  assert.equal(status(() => acceptedImageType("image/*;q=0, */*")), 406);
  // A more specific range wins over a refusing wildcard.
  assert.equal(acceptedImageType("image/*;q=0, image/png"), "image/png");
  // JSON: refused by name, or by its type's wildcard.
  assert.equal(acceptsJson("application/dicom+json;q=0, */*"), false);
  assert.equal(acceptsJson("application/*;q=0, */*"), false);
  assert.equal(acceptsJson("application/json;q=0, */*"), true);
  // Instances: the multipart form refused, the wildcard takes nothing else.
  assert.equal(
    status(() => acceptedInstances('multipart/related; type="application/dicom";q=0, */*', false)),
    406,
  );
  assert.equal(status(() => acceptedInstances("multipart/*;q=0, */*", false)), 406);
  // A q=0 range of one transfer syntax does not refuse the media type.
  assert.deepEqual(
    acceptedInstances(
      `multipart/related; type="application/dicom"; transfer-syntax=${TS.JpegBaseline};q=0, */*`,
      false,
    )
      .syntaxes,
    [TS.ExplicitVRLittleEndian],
  );
  // Frames: any media type but the refused one; all refused: 406.
  const frames = acceptedFrameSyntaxes('multipart/related; type="image/jpeg";q=0, */*')!;
  assert.ok(frames.includes(TS.ExplicitVRLittleEndian) && frames.includes(TS.Rle));
  assert.ok(!frames.includes(TS.JpegBaseline));
  assert.ok(!acceptedFrameSyntaxes("image/jpeg;q=0, */*")!.includes(TS.JpegBaseline));
  assert.equal(acceptedFrameSyntaxes("*/*"), undefined);
  // Bulk data.
  assert.equal(acceptsBulk('multipart/related; type="application/octet-stream";q=0, */*'), false);
  assert.equal(
    acceptedEncapsulatedBulk("image/jpeg;q=0, */*", "image/jpeg", TS.JpegBaseline, false),
    undefined,
  );
  assert.equal(
    acceptedEncapsulatedBulk("image/png;q=0, */*", "image/jpeg", TS.JpegBaseline, false),
    "multipart",
  );
});

Deno.test("a q=0 range naming a transfer syntax refuses that syntax: never chosen, 406 when nothing else is", () => {
  const no = (ts: string, media = "application/dicom") =>
    `multipart/related; type="${media}"; transfer-syntax=${ts};q=0`;
  // Instances: the default (Explicit VR Little Endian) refused and nothing else named: 406 (until 2026-12-07
  // served in it all the same).
  assert.equal(status(() => acceptedInstances(`${no(TS.ExplicitVRLittleEndian)}, */*`, false)), 406);
  // Another syntax named beside it is taken.
  assert.deepEqual(
    acceptedInstances(
      `${
        no(TS.ExplicitVRLittleEndian)
      }, multipart/related; type="application/dicom"; transfer-syntax=${TS.ImplicitVRLittleEndian}, */*`,
      false,
    ).syntaxes,
    [TS.ImplicitVRLittleEndian],
  );
  // Frames: any syntax but the refused one, instead of as stored.
  const frames = acceptedFrameSyntaxes(`${no(TS.JpegBaseline, "image/jpeg")}, */*`)!;
  assert.ok(frames.length > 0 && !frames.includes(TS.JpegBaseline), frames.join(" "));
  assert.equal(frames[0], TS.ExplicitVRLittleEndian);
  assert.deepEqual(
    acceptedFrameSyntaxes(
      `${
        no(TS.ExplicitVRLittleEndian, "application/octet-stream")
      }, multipart/related; type="application/octet-stream"`,
    ),
    [TS.ImplicitVRLittleEndian],
  );
  assert.equal(
    status(() =>
      acceptedFrameSyntaxes(
        `${no(TS.JpegLsLossless, "image/jls")}, ${
          no(TS.JpegLsNearLossless, "image/jls")
        }, multipart/related; type="image/jls"`,
      )
    ),
    406,
  );
  // Without a q=0 syntax, anything is as stored, as before.
  assert.equal(acceptedFrameSyntaxes("*/*"), undefined);
});
