// asl-validator ships no types; this is the part of its API the tests use.
declare module 'asl-validator' {
  interface ValidationError {
    'Error code': string;
    Message: string;
  }
  interface ValidationOptions {
    checkPaths: boolean;
    checkArn: boolean;
  }
  export default function validator(definition: object, options?: ValidationOptions): { isValid: boolean; errors: ValidationError[]; errorsText(separator?: string): string };
}
