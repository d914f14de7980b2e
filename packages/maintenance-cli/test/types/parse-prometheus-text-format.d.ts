declare module 'parse-prometheus-text-format' {
  /** Parses Prometheus text exposition into metric families (no types shipped upstream). */
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
