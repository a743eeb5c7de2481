import assert from "node:assert/strict";
import { acceptedImageType } from "./accept.ts";
import { renderParameters, singleFrame } from "./rendered.ts";

Deno.test("acceptedImageType() picks JPEG or PNG by preference and refuses the rest", () => {
  assert.equal(acceptedImageType(undefined), "image/jpeg");
  assert.equal(acceptedImageType("image/avif,image/webp,image/*,*/*;q=0.8"), "image/jpeg");
  assert.equal(acceptedImageType("image/jpeg;q=0.5, image/png"), "image/png");
  assert.throws(() => acceptedImageType("image/gif"), /image\/jpeg or image\/png/);
  assert.throws(() => acceptedImageType("image/png;q=0"), /image\/jpeg or image\/png/);
});

Deno.test("renderParameters() reads window, viewport and quality as PS3.18 8.3.5.1 writes them", () => {
  const p = (q: string) => renderParameters(new URL(`http://hub/x?${q}`));
  assert.deepEqual(p("window=40,400"), { window: { center: 40, width: 400, function: "LINEAR" } });
  assert.deepEqual(p("window=-600,1500,SIGMOID").window?.function, "SIGMOID");
  assert.deepEqual(p("viewport=128,"), { viewport: { width: 128 } });
  assert.deepEqual(p("viewport=64,64,1,2,30,40&quality=75"), {
    quality: 75,
    viewport: { width: 64, height: 64, region: { x: 1, y: 2, width: 30, height: 40 } },
  });
  assert.throws(() => p("window=40,0.5"), /at least 1/);
  assert.deepEqual(p("window=40,0.5,linear-exact").window?.width, 0.5);
  assert.throws(() => p("viewport=,"), /width, the height or both/);
  assert.throws(() => p("viewport=10,10,1,,3,4"), /all of sx,sy,sw,sh/);
  assert.throws(() => p("quality=101"), /1 to 100/);
});

Deno.test("singleFrame() takes one 1-based frame", () => {
  assert.equal(singleFrame("3"), 3);
  assert.throws(() => singleFrame("1,2"), /one frame at a time/);
  assert.throws(() => singleFrame("0"), /start at 1/);
  assert.throws(() => singleFrame("x"), /1-based/);
});
