import type { Clock, TimerId } from '../clock.ts';
import type { License } from '../protocol/messages.ts';

/** Follows the licence the CP hands out: past `expiresAt` the DP reports itself unlicensed. */
export class LicenseWatch {
  /** `false` once a licence from the CP has expired. */
  licensed = true;
  #timer: TimerId | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly expired: (license: License) => void,
  ) {}

  /** A licence arrived with a config. */
  apply(license: License): void {
    this.stop();
    const expire = () => {
      this.licensed = false;
      this.expired(license);
    };
    const remaining = license.expiresAt - this.clock.now();
    if (remaining <= 0) {
      if (this.licensed) expire();
      return;
    }
    this.licensed = true;
    this.#timer = this.clock.setTimeout(expire, remaining);
  }

  stop(): void {
    if (this.#timer) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
