// What a blocked call is known to wait for. The wire shows that a call is
// stuck inside a process, not on which of that process's threads; for some
// Bitcoin Core methods the code says it. Chain.waitForNotificationsIfTipChanged
// (the wallet's BlockUntilSyncedToCurrentChain) waits until the node's
// notification queue has delivered everything up to the tip: for the thread
// delivering them, which waits in a ChainNotifications call. When such a
// thread is there, the blocked call depends on it alone.

const KNOWN: Record<string, (waitingOn: string) => boolean> = {
  'Chain.waitForNotificationsIfTipChanged': (t) => t.startsWith('ChainNotifications.'),
};

/**
 * Whether a call titled `blocked`, stuck inside a process, waits for the
 * thread of that process that waits on a call titled `waitingOn`: true or
 * false when known, undefined when the method says nothing.
 */
export function waitsFor(blocked: string, waitingOn: string): boolean | undefined {
  return KNOWN[blocked]?.(waitingOn);
}
