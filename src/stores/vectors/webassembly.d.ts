/**
 * The part of the WebAssembly JavaScript API that VectorMatrix uses. Node 20 has all of it;
 * @types/node 20 does not declare it, and the DOM library would bring much else.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: Record<string, unknown>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
}
