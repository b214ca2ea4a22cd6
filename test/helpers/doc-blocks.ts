// The ```ts and ```js code blocks of the README and the guides, with the
// HTML comment that may stand right before each (blank lines allowed):
//
//   <!-- not-checked: why -->   the block is not compiled; the reason is required
//   <!-- prelude: code -->      code the block assumes (an `app`, a browser's
//                               `token`…), compiled in front of it; readers see
//                               it in the Markdown source, next to the block
//
// A block whose first line is a `// name.ts` comment is also the module
// `./name.js` for the other blocks of the same file (the README's events.ts).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import ts from 'typescript'

export interface DocBlock {
  /** Path relative to the repository root, e.g. README.md. */
  file: string
  /** 1-based line of the opening fence. */
  line: number
  lang: 'ts' | 'js'
  code: string
  notChecked: string | null
  prelude: string
  /** `name` of a first line `// name.ts`. */
  module: string | null
}

const CHECKED_LANGS: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js', mjs: 'js' }

export function extractBlocks (markdown: string, file: string): DocBlock[] {
  const lines = markdown.split('\n')
  const blocks: DocBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i])
    if (open === null) continue
    let end = i + 1
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
    const lang = CHECKED_LANGS[open[1]]
    if (lang !== undefined) {
      const code = lines.slice(i + 1, end).join('\n') + '\n'
      const comment = commentBefore(lines, i)
      const notChecked = /^<!--\s*not-checked:\s*([\s\S]*?)\s*-->$/.exec(comment)
      const prelude = /^<!--\s*prelude:\s*([\s\S]*?)\s*-->$/.exec(comment)
      const mod = /^\/\/ ([\w-]+)\.ts\s*$/.exec(lines[i + 1] ?? '')
      blocks.push({ file, line: i + 1, lang, code, notChecked: notChecked?.[1] ?? null, prelude: prelude?.[1] ?? '', module: mod?.[1] ?? null })
    }
    i = end
  }
  return blocks
}

/** The HTML comment ending on the last non-blank line before line `i`, or ''. */
function commentBefore (lines: string[], i: number): string {
  let j = i - 1
  while (j >= 0 && lines[j].trim() === '') j--
  if (j < 0 || !lines[j].trimEnd().endsWith('-->')) return ''
  let k = j
  while (k >= 0 && !lines[k].includes('<!--')) k--
  return k < 0 ? '' : lines.slice(k, j + 1).join('\n').trim()
}

export async function docBlocks (root: URL, files: readonly string[]): Promise<DocBlock[]> {
  const out: DocBlock[] = []
  for (const f of files) out.push(...extractBlocks(await readFile(new URL(f, root), 'utf8'), f))
  return out
}

/**
 * What tsc says about a ```js block that only a TypeScript reader would meet:
 * implicit any (7006, 7031), a callback parameter typed unknown (18046), and
 * excess properties (2353: closure's types allow `messageUrlParams` only
 * `database`). Names, imports, modules and calls are still checked.
 */
const JS_LENIENT = new Set([7006, 7031, 18046, 2353])

export interface BlockDiagnostic { block: DocBlock, line: number, message: string }

/**
 * Compile the checked blocks as one strict program, each block a module of
 * its own in a virtual directory inside the repository (so that
 * `fastify-webchannel` resolves to the package's own published types and
 * every other import to node_modules). Returns what tsc reports, mapped to the
 * Markdown line.
 */
export function typecheckBlocks (rootDir: string, blocks: readonly DocBlock[], extraFiles: readonly string[] = []): BlockDiagnostic[] {
  const dir = join(rootDir, 'test', '__doc_blocks__')
  const virtual = new Map<string, { block: DocBlock, preludeLines: number }>()
  const sources = new Map<string, string>()
  for (const b of blocks) {
    if (b.notChecked !== null) continue
    const sub = b.file.replace(/[^\w]/g, '_')
    // js blocks are compiled as JavaScript (checkJs): what a reader of a .js/.mjs file would see.
    const ext = b.lang === 'js' ? '.js' : '.ts'
    const name = join(dir, sub, (b.module ?? `line-${b.line}`) + ext)
    const prelude = b.prelude === '' ? '' : b.prelude + '\n'
    // `export {}`: a block without imports is still a module (top-level await, no globals shared).
    sources.set(name, prelude + b.code + 'export {}\n')
    virtual.set(name, { block: b, preludeLines: prelude === '' ? 0 : prelude.split('\n').length - 1 })
  }
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    types: ['node'],
    allowJs: true,
    checkJs: true,
  }
  const host = ts.createCompilerHost(options)
  const { fileExists, readFile: read, getSourceFile } = host
  host.fileExists = (f) => sources.has(f) || fileExists.call(host, f)
  // The virtual directories exist for module resolution (./events.js from a sibling block).
  const dirs = new Set([...sources.keys()].map(f => f.slice(0, f.lastIndexOf('/'))))
  const { directoryExists } = host
  host.directoryExists = (d) => dirs.has(d) || (directoryExists?.call(host, d) ?? true)
  host.readFile = (f) => sources.get(f) ?? read.call(host, f)
  host.getSourceFile = (f, lang, onError, create) => {
    const text = sources.get(f)
    return text !== undefined ? ts.createSourceFile(f, text, lang, true) : getSourceFile.call(host, f, lang, onError, create)
  }
  const program = ts.createProgram([...sources.keys(), ...extraFiles], options, host)
  const out: BlockDiagnostic[] = []
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) {
    out.push({ block: blocks[0], line: 0, message: ts.flattenDiagnosticMessageText(d.messageText, '\n') })
  }
  for (const [name, v] of virtual) {
    const sf = program.getSourceFile(name)
    if (sf === undefined) continue
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      if (v.block.lang === 'js' && JS_LENIENT.has(d.code)) continue
      const at = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line
      const inBlock = at - v.preludeLines
      // Markdown line: the fence is line `line`, the block's first line is line + 1.
      out.push({ block: v.block, line: inBlock < 0 ? 0 : v.block.line + 1 + inBlock, message: (inBlock < 0 ? '(in the prelude) ' : '') + ts.flattenDiagnosticMessageText(d.messageText, '\n') })
    }
  }
  return out
}
