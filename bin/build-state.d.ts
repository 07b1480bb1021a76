// Types of bin/build-state.js (plain JavaScript: it runs before anything is compiled), for the tests.
export declare const BUILD_STAMP: string;
export declare const FRESH_MARGIN_MS: number;
export declare function buildState(root: string): 'release' | 'fresh' | 'stale' | 'unbuilt';
export declare function newestInput(root: string): number;
export declare function clearBuildStamp(root: string): void;
export declare function writeBuildStamp(root: string, startedAt: Date): void;
